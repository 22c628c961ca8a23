"""The small CNNs that PreciMed's image bundles use, and their fit/evaluate helpers.

Two heads on the same kind of trunk (3×3 ``Conv → ReLU``, ``MaxPool``):

- :func:`build_cnn`, a classifier (global average pooling, dense layers) for labels per
  image, as in a MedMNIST file;
- :func:`build_detector`, for a lesion that is small against the image: a 1×1 convolution
  scores every cell of a 16×16 grid, and the image's probability is the sigmoid of the highest
  score (global max pooling). Averaging (GAP) dilutes a lesion covering 1 % of the image and
  did not train in a few minutes here; with the max, and the lesion masks as an auxiliary
  per-cell target during training, it does. Only the image-level output is saved.

Every layer is a built-in one that Keras safe-mode loading and SHAP's gradient explainer
handle; a few ten thousand weights train in minutes on two CPU cores at 64 × 64.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def build_cnn(shape: tuple[int, int, int], n_classes: int, *, width: int = 16,
              dropout: float = 0.2) -> Any:
    """The network: a sigmoid output for two classes, softmax otherwise."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    for i, filters in enumerate((width, 2 * width, 4 * width)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.Conv2D(4 * width, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(2 * width, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    if n_classes == 2:
        out = layers.Dense(1, activation="sigmoid", name="p_positive")(x)
    else:
        out = layers.Dense(n_classes, activation="softmax", name="p_class")(x)
    return keras.Model(inputs, out, name="precimed_cnn")


def build_detector(shape: tuple[int, int, int], *, width: int = 16, batchnorm: bool = False,
                   depth: int = 4, fine_grid: bool = False) -> tuple[Any, Any]:
    """(training model with outputs ``cls`` and ``seg``, inference model with ``cls`` only).

    ``batchnorm``: each convolution without bias, then batch normalisation, then ReLU (layers
    ``convK``, ``convK_bn``, ``convK_relu``); it makes the many-family lesion task start
    learning in the first epoch. ``depth``: 3×3 convolutions at the grid's resolution after the
    two pools (``conv3`` … ``conv{depth}``). ``fine_grid``: the last block is upsampled to the
    32 × 32 grid of ``conv2`` and fused with it by a 1 × 1 convolution (``fuse``), so that cells
    are 2 × 2 input pixels instead of 4 × 4: the heatmap's maximum can fall on a small lesion
    rather than beside it.
    """
    import keras
    from keras import layers

    def conv(x: Any, filters: int, name: str) -> Any:
        if not batchnorm:
            return layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.Activation("relu", name=f"{name}_relu")(x)

    inputs = keras.Input(shape=shape, name="image")
    x = conv(inputs, width, "conv1")
    x = layers.MaxPooling2D(2, name="pool1")(x)
    skip = x = conv(x, 2 * width, "conv2")
    x = layers.MaxPooling2D(2, name="pool2")(x)
    for k in range(3, depth + 1):
        x = conv(x, 4 * width, f"conv{k}")
    if fine_grid:
        x = layers.UpSampling2D(2, name="up")(x)
        x = layers.Concatenate(name="skip")([x, skip])
        x = layers.Conv2D(2 * width, 1, use_bias=not batchnorm, name="fuse",
                          activation=None if batchnorm else "relu")(x)
        if batchnorm:
            x = layers.BatchNormalization(name="fuse_bn")(x)
            x = layers.Activation("relu", name="fuse_relu")(x)
    logit = layers.Conv2D(1, 1, name="cell_logit")(x)
    seg = layers.Activation("sigmoid", name="seg")(logit)
    cls = layers.Activation("sigmoid", name="cls")(layers.GlobalMaxPooling2D(name="max_cell")(logit))
    train = keras.Model(inputs, {"cls": cls, "seg": seg}, name="precimed_detector_train")
    infer = keras.Model(inputs, cls, name="precimed_detector")
    return train, infer


def cell_targets(masks: np.ndarray, cells: int = 16) -> np.ndarray:
    """Lesion masks (n, H, W) → (n, cells, cells, 1): 1 where a grid cell touches the lesion."""
    n, h, w = masks.shape
    hit = np.asarray(masks).reshape(n, cells, h // cells, cells, w // cells).any(axis=(2, 4))
    return np.asarray(hit, dtype=np.float32)[..., np.newaxis]


def fit_detector(train: Any, x: np.ndarray, y: np.ndarray, masks: np.ndarray, *, epochs: int,
                 batch_size: int = 32, learning_rate: float = 1e-3, seg_weight: float = 2.0,
                 cosine: bool = False, callbacks: list[Any] | None = None, verbose: int = 0) -> Any:
    """Adam (compiled once, so its moments carry across epochs; with ``cosine`` the learning
    rate decays to 5 % of ``learning_rate`` over the run); image-level and per-cell
    cross-entropy. ``callbacks`` run after each epoch (e.g. a validation log)."""
    import keras

    lr: Any = learning_rate
    if cosine:
        steps = epochs * int(np.ceil(len(x) / batch_size))
        lr = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    train.compile(optimizer=keras.optimizers.Adam(lr),
                  loss={"cls": "binary_crossentropy", "seg": "binary_crossentropy"},
                  loss_weights={"cls": 1.0, "seg": seg_weight})
    cells = int(train.get_layer("seg").output.shape[1])
    return train.fit(x, {"cls": y.astype(np.float32), "seg": cell_targets(masks, cells)},
                     epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose,
                     callbacks=callbacks or [])


def fit_cnn(model: Any, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
            epochs: int, batch_size: int = 64, learning_rate: float = 2e-3, verbose: int = 0) -> Any:
    """Adam + cross-entropy; keeps the weights of the epoch with the lowest validation loss."""
    import keras

    binary = model.output_shape[-1] == 1
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy")
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=max(3, epochs // 4),
                                         restore_best_weights=True)
    return model.fit(x, y, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
                     shuffle=True, callbacks=[stop], verbose=verbose)


def predict_batches(model: Any, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Model output (n, outputs) as float64."""
    from precimed.predict import raw_output

    return raw_output(model, x.astype(np.float32), batch=batch)


def multiclass_metrics(y: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Macro one-vs-rest AUROC with a bootstrap CI, multiclass Brier, accuracy, calibration of the
    top-class probability."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    from precimed.training.common import bootstrap_ci

    def macro(yy: np.ndarray, pp: np.ndarray) -> float:
        return float(roc_auc_score(yy, pp, multi_class="ovr", average="macro",
                                   labels=list(range(len(classes)))))

    def brier(yy: np.ndarray, pp: np.ndarray) -> float:
        onehot = np.eye(len(classes))[yy]
        return float(np.mean(np.sum((pp - onehot) ** 2, axis=1)))

    idx = np.arange(len(y))
    lo, hi = bootstrap_ci(lambda a, b: macro(y[a], probs[a]), idx, idx, n_boot=300,
                          stratified=False)
    top = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(float)
    edges = np.quantile(top, np.linspace(0, 1, 6))
    bins = np.clip(np.searchsorted(edges, top, side="right") - 1, 0, 4)
    pred = [float(top[bins == b].mean()) for b in range(5) if (bins == b).any()]
    obs = [float(correct[bins == b].mean()) for b in range(5) if (bins == b).any()]
    return {
        "metrics": {
            "auroc_macro": {"value": round(macro(y, probs), 4), "ci95": [round(lo, 4), round(hi, 4)]},
            "brier": {"value": round(brier(y, probs), 4)},
            "accuracy": {"value": round(float(accuracy_score(y, probs.argmax(axis=1))), 4)},
        },
        "calibration": {"bins": [round(float(e), 4) for e in edges],
                        "predicted": [round(v, 4) for v in pred], "observed": [round(v, 4) for v in obs]},
    }
