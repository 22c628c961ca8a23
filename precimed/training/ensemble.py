"""Many small MLPs trained at once, nested cross-validation, recalibration, one Keras export.

Nested CV needs hundreds of small networks (outer folds × inner folds × hyperparameters). Fitted
one by one, each costs a Keras ``fit`` dominated by per-step overhead, so here all the networks
of one hyperparameter setting are the *members* of one model: member ``s`` has its own weights
(an ``EinsumDense`` kernel slice), its own standardisation (from its own training rows) and
its own row mask in the loss, so it learns exactly what it would learn alone on its rows
(same optimiser, L2 and dropout per member; only the shuffled batch order is shared).

The shipped model is rebuilt from member weights as plain ``Normalization [→ tanh] →
Dense(ReLU) → Dense(logit) → Dense(sigmoid | softmax)`` layers: one bundle, loadable with
``safe_mode=True`` and explained exactly by ``shap.DeepExplainer``. The last layer is the
recalibration, fitted on inner out-of-fold logits only: ``sigmoid(a + b·logit)`` (Platt) for a
binary model, ``softmax(W·logits + c)`` (multinomial logistic recalibration, "matrix scaling")
for a multiclass one.

Multiclass members have K output logits and a softmax cross-entropy loss, optionally with
class weights computed from each member's own training rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MemberConfig:
    """Hyperparameters shared by the members of one vectorised fit."""

    hidden: int = 16
    l2: float = 3e-2
    dropout: float = 0.3
    learning_rate: float = 2e-3
    batch_size: int = 32
    epochs: tuple[int, ...] = (120,)  # weights are snapshotted after each of these epochs
    # tanh after the standardisation (soft-clips heavy-tailed inputs beyond ~2 SD). A tanh cannot
    # be folded into the first layer's weights, so squashed members are standardised on their
    # *block* (the outer training set, or all rows for the shipped model) rather than on their
    # own inner-training rows: one Normalization layer then serves every member of the export.
    squash: bool = False
    # Multiclass only: class weights n_s / (K · n_s,c) from each member's own training rows.
    balanced: bool = False
    # Dropout on the (standardised) inputs while training: a regulariser for many noisy inputs.
    input_dropout: float = 0.0


@dataclass
class Members:
    """Weights of S one-hidden-layer members: logit_s(x) = relu(z_s W1_s + b1_s) · w2_s + b2_s,
    with z_s = (x − mu_s) / sd_s (then tanh when ``squash``)."""

    mu: np.ndarray  # (S, d)
    sd: np.ndarray  # (S, d)
    w1: np.ndarray  # (S, d, h)
    b1: np.ndarray  # (S, h)
    w2: np.ndarray  # (S, h) binary, (S, h, K) multiclass
    b2: np.ndarray  # (S,) binary, (S, K) multiclass
    squash: bool = False

    def logits(self, x: np.ndarray, members: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Logits of every row for the chosen members: shape (n, len(members)[, K])."""
        idx = np.arange(len(self.mu)) if members is None else np.asarray(members)
        z = (np.asarray(x, "float64")[:, None, :] - self.mu[idx]) / self.sd[idx]
        if self.squash:
            z = np.tanh(z)
        hid = np.maximum(np.einsum("nsd,sdh->nsh", z, self.w1[idx]) + self.b1[idx], 0.0)
        if self.w2.ndim == 3:
            return np.asarray(np.einsum("nsh,shk->nsk", hid, self.w2[idx]) + self.b2[idx])
        return np.asarray(np.einsum("nsh,sh->ns", hid, self.w2[idx]) + self.b2[idx])


def standardisation(x: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-member mean and SD over that member's training rows (SD 1 for a constant column, as
    in :func:`precimed.training.tabular.build_mlp`)."""
    w = masks.T.astype("float64")  # (S, n)
    w = w / w.sum(axis=1, keepdims=True)
    mu = w @ x
    var = w @ (x ** 2) - mu ** 2
    sd = np.sqrt(np.where(var <= 1e-12, 1.0, var))
    return mu, sd


def train_members(x: np.ndarray, y: np.ndarray, masks: np.ndarray, cfg: MemberConfig,
                  seed: int, *, n_classes: int = 2, scale_masks: np.ndarray | None = None
                  ) -> dict[int, Members]:
    """Train one member per column of ``masks`` (n, S; 1 = a training row of that member).

    Args:
        y: class index per row (0/1 for a binary model).
        n_classes: 2 gives one logit per member (binary cross-entropy), more gives K logits
            (softmax cross-entropy, class-weighted when ``cfg.balanced``).
        scale_masks: rows each member is standardised on (default: its own ``masks``); with
            ``cfg.squash`` pass the block's rows, see :class:`MemberConfig`.

    Returns the members' weights after each epoch count in ``cfg.epochs``.
    """
    import keras
    from keras import ops

    keras.utils.set_random_seed(seed)
    n, d = x.shape
    s = masks.shape[1]
    mu, sd = standardisation(x, masks if scale_masks is None else scale_masks)
    z = ((x[:, None, :] - mu[None]) / sd[None]).astype("float32")  # (n, S, d)
    if cfg.squash:
        z = np.tanh(z)
    # Each member's loss is the mean over its own rows, as if trained alone on them.
    weight = masks * (n / masks.sum(axis=0, keepdims=True))
    k = 1 if n_classes == 2 else n_classes
    if k > 1 and cfg.balanced:
        # Keras' class_weight for a member trained alone: n_s / (K · n_s,c) on its own rows.
        onehot = np.eye(k)[y]  # (n, K)
        per_class = masks.T @ onehot  # (S, K)
        cw = masks.sum(axis=0)[:, None] / (k * np.maximum(per_class, 1.0))
        weight = weight * cw.T[y]  # (n, S)
    target = np.stack([np.repeat(y[:, None], s, axis=1), weight], axis=-1).astype("float32")

    inp = keras.Input((s, d))
    first = keras.layers.Dropout(cfg.input_dropout)(inp) if cfg.input_dropout else inp
    hid = keras.layers.EinsumDense("nsd,sdh->nsh", output_shape=(s, cfg.hidden), bias_axes="sh",
                                   activation="relu", name="hidden",
                                   kernel_regularizer=keras.regularizers.L2(cfg.l2))(first)
    hid = keras.layers.Dropout(cfg.dropout)(hid)
    if k == 1:
        out = keras.layers.EinsumDense("nsh,sh->ns", output_shape=(s,), bias_axes="s", name="logit")(hid)
    else:
        out = keras.layers.EinsumDense("nsh,shk->nsk", output_shape=(s, k), bias_axes="sk",
                                       name="logit")(hid)
    model = keras.Model(inp, out)
    # Glorot-uniform per member (Keras would compute fan-in over the stacked kernel).
    rng = np.random.default_rng(seed)
    lim1 = np.sqrt(6.0 / (d + cfg.hidden))
    lim2 = np.sqrt(6.0 / (cfg.hidden + k))
    out_shape = (s, cfg.hidden) if k == 1 else (s, cfg.hidden, k)
    model.get_layer("hidden").set_weights([rng.uniform(-lim1, lim1, (s, d, cfg.hidden)).astype("float32"),
                                           np.zeros((s, cfg.hidden), "float32")])
    model.get_layer("logit").set_weights([rng.uniform(-lim2, lim2, out_shape).astype("float32"),
                                          np.zeros(out_shape[:1] + out_shape[2:], "float32")])

    def loss(t: Any, logit: Any) -> Any:
        lab, w = t[..., 0], t[..., 1]
        if k == 1:
            # Binary cross-entropy from logits, summed over members, mean over the batch.
            bce = ops.maximum(logit, 0.0) - logit * lab + ops.log1p(ops.exp(-ops.abs(logit)))
            return ops.sum(w * bce, axis=-1)
        # Softmax cross-entropy from logits (batch, S, K), summed over members.
        hot = ops.one_hot(ops.cast(lab, "int32"), k)
        ce = ops.logsumexp(logit, axis=-1) - ops.sum(hot * logit, axis=-1)
        return ops.sum(w * ce, axis=-1)

    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=loss)
    snapshots: dict[int, Members] = {}
    done = 0
    for stop in sorted(cfg.epochs):
        model.fit(z, target, epochs=stop, initial_epoch=done, batch_size=cfg.batch_size,
                  shuffle=True, verbose=0)
        done = stop
        k1, c1 = model.get_layer("hidden").get_weights()
        k2, c2 = model.get_layer("logit").get_weights()
        snapshots[stop] = Members(mu=mu, sd=sd, w1=k1.astype("float64"), b1=c1.astype("float64"),
                                  w2=k2.astype("float64"), b2=c2.astype("float64"), squash=cfg.squash)
    return snapshots


def logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    p = np.clip(np.asarray(p, "float64"), eps, 1 - eps)
    return np.asarray(np.log(p / (1 - p)))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(z, "float64"))))


def platt(lg: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Unpenalised logistic regression of ``y`` on a logit: (intercept a, slope b)."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=np.inf, max_iter=1000).fit(lg.reshape(-1, 1), y)
    return float(fit.intercept_[0]), float(fit.coef_[0, 0])


def _stacked(members: Members, idx: list[int], x_all: np.ndarray) -> tuple[Any, list[np.ndarray]]:
    """The ``scale`` layer and the stacked weights of ``dense_0`` and ``logit`` for members ``idx``.

    Without squashing, each member's own standardisation is folded into its first-layer weights
    and one Normalization over ``x_all`` serves all. With squashing (tanh after the
    standardisation, which cannot be folded), the members share their block's standardisation,
    which becomes the Normalization's fixed mean and variance.
    """
    import keras

    from precimed.training.tabular import _norm_layer

    m = len(idx)
    h = members.w1.shape[2]
    k = 1 if members.w2.ndim == 2 else members.w2.shape[2]
    if members.squash:
        mu, sd = members.mu[idx[0]], members.sd[idx[0]]
        if not (np.allclose(members.mu[idx], mu) and np.allclose(members.sd[idx], sd)):
            raise ValueError("squashed members must share one standardisation (their block's)")
        norm = keras.layers.Normalization(mean=mu, variance=sd ** 2, name="scale")
        mu_all, sd_all = mu, sd
    else:
        norm = _norm_layer(x_all)
        mu_all = np.asarray(norm.mean.numpy(), "float64").reshape(-1)
        sd_all = np.sqrt(np.asarray(norm.variance.numpy(), "float64").reshape(-1))
    k1 = np.zeros((members.w1.shape[1], m * h))
    c1 = np.zeros(m * h)
    k2 = np.zeros((m * h, k))
    for j, s in enumerate(idx):
        # z_s = (x - mu_s)/sd_s = z_all * (sd_all/sd_s) + (mu_all - mu_s)/sd_s
        ratio = sd_all / members.sd[s]
        shift = (mu_all - members.mu[s]) / members.sd[s]
        k1[:, j * h:(j + 1) * h] = ratio[:, None] * members.w1[s]
        c1[j * h:(j + 1) * h] = members.b1[s] + shift @ members.w1[s]
        k2[j * h:(j + 1) * h, :] = (members.w2[s] / m).reshape(h, k)
    c2 = np.atleast_1d(members.b2[idx].mean(axis=0))
    return norm, [k1, c1, k2, c2]


def _export(members: Members, idx: list[int], x_all: np.ndarray, kernel: np.ndarray,
            bias: np.ndarray, activation: str) -> Any:
    import keras

    norm, (k1, c1, k2, c2) = _stacked(members, idx, x_all)
    inp = keras.Input((x_all.shape[1],), name="features")
    z = norm(inp)
    if members.squash:
        z = keras.layers.Activation("tanh", name="squash")(z)
    hid = keras.layers.Dense(k1.shape[1], activation="relu", name="dense_0")(z)
    lg = keras.layers.Dense(k2.shape[1], name="logit")(hid)
    out = keras.layers.Dense(kernel.shape[1], activation=activation, name="recalibration",
                             trainable=False)(lg)
    model = keras.Model(inp, out, name="mlp_recalibrated")
    model.get_layer("dense_0").set_weights([k1.astype("float32"), c1.astype("float32")])
    model.get_layer("logit").set_weights([k2.astype("float32"), c2.astype("float32")])
    model.get_layer("recalibration").set_weights([kernel.astype("float32"), bias.astype("float32")])
    return model


def export_keras(members: Members, idx: list[int], x_all: np.ndarray, a: float, b: float) -> Any:
    """One Keras model: the mean logit of members ``idx``, recalibrated as sigmoid(a + b·logit).

    Layers: ``scale`` (Normalization over ``x_all``), ``dense_0`` (ReLU; the members' hidden
    units side by side, each member's own standardisation folded into its weights), ``logit``
    (linear; each member's output weights divided by the member count), ``recalibration``
    (sigmoid, fixed weight b and bias a).
    """
    return _export(members, idx, x_all, np.array([[b]]), np.array([a]), "sigmoid")


def export_keras_multiclass(members: Members, idx: list[int], x_all: np.ndarray,
                            weights: np.ndarray, bias: np.ndarray) -> Any:
    """One Keras model: the members' mean logits z (K of them), then ``softmax(W z + c)``.

    Layers: ``scale`` (Normalization), ``squash`` (tanh, when the members were trained on
    squashed inputs), ``dense_0`` (ReLU, the members side by side), ``logit`` (linear, K units,
    the mean of the members' logits), ``recalibration`` (softmax; kernel ``W.T``, bias ``c``,
    the multinomial logistic recalibration). All layers are on DeepExplainer's allow-list.

    Args:
        weights: (K, K) recalibration matrix W (row = output class), as scikit-learn's
            ``LogisticRegression.coef_``; bias: (K,) its ``intercept_``.
    """
    return _export(members, idx, x_all, np.asarray(weights, "float64").T, np.asarray(bias, "float64"),
                   "softmax")
