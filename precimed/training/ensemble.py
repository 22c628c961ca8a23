"""Many small MLPs trained at once, nested cross-validation, recalibration, one Keras export.

Nested CV needs hundreds of small networks (outer folds × inner folds × hyperparameters). Fitted
one by one, each costs a Keras ``fit`` dominated by per-step overhead, so here all the networks
of one hyperparameter setting are the *members* of one model: member ``s`` has its own weights
(an ``EinsumDense`` kernel slice), its own standardisation (from its own training rows) and
its own row mask in the loss, so it learns exactly what it would learn alone on its rows
(same optimiser, L2 and dropout per member; only the shuffled batch order is shared).

The shipped model is rebuilt from member weights as plain ``Normalization → Dense(ReLU) →
Dense(logit) → Dense(sigmoid)`` layers: one bundle, loadable with ``safe_mode=True`` and
explained exactly by ``shap.DeepExplainer``. The last layer is the recalibration,
``sigmoid(a + b·logit)``, with ``a`` and ``b`` fitted on inner out-of-fold logits only.
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


@dataclass
class Members:
    """Weights of S one-hidden-layer members: logit_s(x) = relu(z_s W1_s + b1_s) · w2_s + b2_s,
    with z_s = (x − mu_s) / sd_s."""

    mu: np.ndarray  # (S, d)
    sd: np.ndarray  # (S, d)
    w1: np.ndarray  # (S, d, h)
    b1: np.ndarray  # (S, h)
    w2: np.ndarray  # (S, h)
    b2: np.ndarray  # (S,)

    def logits(self, x: np.ndarray, members: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Logits of every row for the chosen members: shape (n, len(members))."""
        idx = np.arange(len(self.mu)) if members is None else np.asarray(members)
        z = (np.asarray(x, "float64")[:, None, :] - self.mu[idx]) / self.sd[idx]
        hid = np.maximum(np.einsum("nsd,sdh->nsh", z, self.w1[idx]) + self.b1[idx], 0.0)
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
                  seed: int) -> dict[int, Members]:
    """Train one member per column of ``masks`` (n, S; 1 = a training row of that member).

    Returns the members' weights after each epoch count in ``cfg.epochs``.
    """
    import keras
    from keras import ops

    keras.utils.set_random_seed(seed)
    n, d = x.shape
    s = masks.shape[1]
    mu, sd = standardisation(x, masks)
    z = ((x[:, None, :] - mu[None]) / sd[None]).astype("float32")  # (n, S, d)
    # Each member's loss is the mean over its own rows, as if trained alone on them.
    weight = masks * (n / masks.sum(axis=0, keepdims=True))
    target = np.stack([np.repeat(y[:, None], s, axis=1), weight], axis=-1).astype("float32")

    inp = keras.Input((s, d))
    hid = keras.layers.EinsumDense("nsd,sdh->nsh", output_shape=(s, cfg.hidden), bias_axes="sh",
                                   activation="relu", name="hidden",
                                   kernel_regularizer=keras.regularizers.L2(cfg.l2))(inp)
    hid = keras.layers.Dropout(cfg.dropout)(hid)
    out = keras.layers.EinsumDense("nsh,sh->ns", output_shape=(s,), bias_axes="s", name="logit")(hid)
    model = keras.Model(inp, out)
    # Glorot-uniform per member (Keras would compute fan-in over the stacked kernel).
    rng = np.random.default_rng(seed)
    lim1 = np.sqrt(6.0 / (d + cfg.hidden))
    lim2 = np.sqrt(6.0 / (cfg.hidden + 1))
    model.get_layer("hidden").set_weights([rng.uniform(-lim1, lim1, (s, d, cfg.hidden)).astype("float32"),
                                           np.zeros((s, cfg.hidden), "float32")])
    model.get_layer("logit").set_weights([rng.uniform(-lim2, lim2, (s, cfg.hidden)).astype("float32"),
                                          np.zeros((s,), "float32")])

    def loss(t: Any, logit: Any) -> Any:
        lab, w = t[..., 0], t[..., 1]
        # Binary cross-entropy from logits, summed over members, mean over the batch.
        bce = ops.maximum(logit, 0.0) - logit * lab + ops.log1p(ops.exp(-ops.abs(logit)))
        return ops.sum(w * bce, axis=-1)

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
                                  w2=k2.astype("float64"), b2=c2.astype("float64"))
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


def export_keras(members: Members, idx: list[int], x_all: np.ndarray, a: float, b: float) -> Any:
    """One Keras model: the mean logit of members ``idx``, recalibrated as sigmoid(a + b·logit).

    Layers: ``scale`` (Normalization over ``x_all``), ``dense_0`` (ReLU; the members' hidden
    units side by side, each member's own standardisation folded into its weights), ``logit``
    (linear; each member's output weights divided by the member count), ``recalibration``
    (sigmoid, fixed weight b and bias a).
    """
    import keras

    from precimed.training.tabular import _norm_layer

    norm = _norm_layer(x_all)
    mu_all = np.asarray(norm.mean.numpy(), "float64").reshape(-1)
    sd_all = np.sqrt(np.asarray(norm.variance.numpy(), "float64").reshape(-1))
    m = len(idx)
    h = members.w1.shape[2]
    k1 = np.zeros((x_all.shape[1], m * h))
    c1 = np.zeros(m * h)
    k2 = np.zeros((m * h, 1))
    for j, s in enumerate(idx):
        # z_s = (x - mu_s)/sd_s = z_all * (sd_all/sd_s) + (mu_all - mu_s)/sd_s
        ratio = sd_all / members.sd[s]
        shift = (mu_all - members.mu[s]) / members.sd[s]
        k1[:, j * h:(j + 1) * h] = ratio[:, None] * members.w1[s]
        c1[j * h:(j + 1) * h] = members.b1[s] + shift @ members.w1[s]
        k2[j * h:(j + 1) * h, 0] = members.w2[s] / m
    c2 = np.array([members.b2[idx].mean()])

    inp = keras.Input((x_all.shape[1],), name="features")
    hid = keras.layers.Dense(m * h, activation="relu", name="dense_0")(norm(inp))
    lg = keras.layers.Dense(1, name="logit")(hid)
    out = keras.layers.Dense(1, activation="sigmoid", name="recalibration", trainable=False)(lg)
    model = keras.Model(inp, out, name="mlp_recalibrated")
    model.get_layer("dense_0").set_weights([k1.astype("float32"), c1.astype("float32")])
    model.get_layer("logit").set_weights([k2.astype("float32"), c2.astype("float32")])
    model.get_layer("recalibration").set_weights([np.array([[b]], "float32"), np.array([a], "float32")])
    return model
