"""DeepExplainer's values for a chain of dense layers, computed pair by pair in NumPy.

For a model that is a plain chain (normalisation, ``Dense`` layers, elementwise activations,
dropout), SHAP's DeepExplainer applies the DeepLIFT rescale rule: at each nonlinearity the
gradient is replaced by ``(f(x) − f(r)) / (x − r)`` (the true gradient at the reference where
``|x − r| < 1e-6``), linear ops pass gradients through, and the value of input *j* is the mean
over the background references *r* of ``multiplier × (x_j − r_j)``. This module runs that rule
directly: each row and each background row goes forward once, and only the multipliers are
formed per (row, reference) pair, so 10^6 rows take seconds where SHAP's graph (one row per
call) takes minutes.

Written by hand because SHAP offers no batched form of its TF2 DeepExplainer; the rule is the
one of ``shap/explainers/_deep/deep_tf.py`` (``nonlinearity_1d_handler``). It is used only after
:func:`chain_of` has read the model and :func:`verified_chain` has checked, on the bundle's own
rows, that its forward pass reproduces the model and its values reproduce DeepExplainer's to
1e-6; anything else (softmax, branches, other layers) goes to the generic path.

Example:
    >>> chain = chain_of(model)  # doctest: +SKIP
    >>> values, unstable = chain_values_checked(chain, x, background)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "softplus", "linear")
PAIR_CELLS = 4_000_000  # pairs × units per block (32 MB of float64)
THRESHOLD = 1e-6  # SHAP's: below it the true gradient at the reference replaces the ratio
# A smooth activation's ratio divides a float32 difference of nearly equal outputs by |x − r|:
# below this gap its rounding (TensorFlow's and ours differ in the last bit) moved values by up
# to 8e-6 (2 rows in 2,000 of the genomic model); at or above it, by at most 4.7e-7.
UNSTABLE_GAP = 1e-3
DTYPE = np.float32


@dataclass(frozen=True)
class Step:
    """One step: ``affine`` (x·a + b), ``shift`` (x + a), ``divide`` (x / a), ``dense``
    (x @ a + b) or ``act`` (an elementwise activation)."""

    kind: str
    a: Any = None  # ndarray
    b: Any = None  # ndarray
    act: str = "linear"


def _act_name(layer: Any) -> str | None:
    fn = getattr(layer, "activation", None)
    name = getattr(fn, "__name__", "linear") if fn is not None else "linear"
    return name if name in ACTIVATIONS else None


def chain_of(model: Any) -> list[Step] | None:
    """The model as a chain of steps, or ``None`` if it is not one this module handles."""
    if len(getattr(model, "inputs", []) or []) != 1 or len(getattr(model, "outputs", []) or []) != 1:
        return None
    steps: list[Step] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("InputLayer", "Dropout", "GaussianNoise"):
            continue  # identity at inference
        if kind == "Normalization":
            if getattr(layer, "invert", False):
                return None
            mean = np.asarray(layer.mean, dtype=DTYPE).reshape(-1)
            var = np.asarray(layer.variance, dtype=DTYPE).reshape(-1)
            # Keras computes (x - mean) / max(sqrt(var), epsilon): kept as two steps, so that
            # the float32 rounding is the same
            steps.append(Step("shift", -mean))
            steps.append(Step("divide", np.maximum(np.sqrt(var), DTYPE(1e-7))))
        elif kind == "BatchNormalization":
            gamma = np.asarray(layer.gamma if layer.scale else 1.0, dtype="float64")
            beta = np.asarray(layer.beta if layer.center else 0.0, dtype="float64")
            mean = np.asarray(layer.moving_mean, dtype="float64")
            var = np.asarray(layer.moving_variance, dtype="float64")
            scale = gamma / np.sqrt(var + float(layer.epsilon))
            steps.append(Step("affine", scale.astype(DTYPE), (beta - mean * scale).astype(DTYPE)))
        elif kind == "Dense":
            act = _act_name(layer)
            if act is None:
                return None
            w = np.asarray(layer.kernel, dtype=DTYPE)
            b = np.asarray(layer.bias, dtype=DTYPE) if layer.use_bias else \
                np.zeros(w.shape[1], dtype=DTYPE)
            steps.append(Step("dense", w, b))
            if act != "linear":
                steps.append(Step("act", act=act))
        elif kind == "Activation":
            act = _act_name(layer)
            if act is None:
                return None
            if act != "linear":
                steps.append(Step("act", act=act))
        elif kind == "ReLU":
            if layer.max_value is not None or float(layer.negative_slope) or float(layer.threshold):
                return None
            steps.append(Step("act", act="relu"))
        else:
            return None
    return steps


def _f(act: str, z: np.ndarray) -> np.ndarray:
    if act == "relu":
        return np.maximum(z, 0.0)
    if act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if act == "tanh":
        return np.tanh(z)
    if act == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))
    return np.logaddexp(0.0, z)  # softplus


def _df(act: str, z: np.ndarray) -> np.ndarray:
    if act == "relu":
        return (z > 0).astype("float64")
    if act == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if act == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if act == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0)))
    return 1.0 / (1.0 + np.exp(-z))  # softplus


def forward(steps: list[Step], x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(output, inputs of every ``act`` step) for rows ``x``, in float32 as TensorFlow runs
    the model (the rescale ratio divides differences of nearly equal numbers: computed in
    float64 it would be *more* accurate than DeepExplainer, and so differ from it)."""
    h = np.asarray(x, dtype=DTYPE)
    pre: list[np.ndarray] = []
    for s in steps:
        if s.kind == "affine":
            h = h * s.a + s.b
        elif s.kind == "shift":
            h = h + s.a
        elif s.kind == "divide":
            h = h / s.a
        elif s.kind == "dense":
            h = h @ s.a + s.b
        else:
            pre.append(h)
            h = _f(s.act, h)
    return h, pre


def _unstable(act: str, delta: np.ndarray) -> np.ndarray:
    """Per row, whether some (row, reference, unit) pair's multiplier is ill-conditioned in
    float32: a smooth activation's gap below :data:`UNSTABLE_GAP`, or a ReLU's gap so near
    SHAP's threshold that rounding could pick the other branch (ratio against gradient)."""
    gap = np.abs(delta)
    if act == "linear":
        return np.zeros(len(delta), dtype=bool)
    limit = 2 * THRESHOLD if act == "relu" else UNSTABLE_GAP
    return ((gap > 0) & (gap < limit)).any(axis=(1, 2))


def chain_values_checked(steps: list[Step], x: np.ndarray,
                         background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(DeepExplainer's values for rows ``x``, shape (rows, inputs, outputs); per row whether
    they are ill-conditioned).

    A row is ill-conditioned when one of its multipliers divides by a gap so small that float32
    rounding, which differs between TensorFlow and NumPy, shows at 1e-6 (see :func:`_unstable`);
    callers that must equal DeepExplainer recompute those rows with it.
    """
    x = np.asarray(x, dtype=DTYPE)
    bg = np.asarray(background, dtype=DTYPE)
    out_x, pre_x = forward(steps, x)
    out_b, pre_b = forward(steps, bg)
    outputs = out_x.shape[1]
    widest = max([x.shape[1]] + [s.a.shape[1] for s in steps if s.kind == "dense" and s.a is not None])
    k = max(1, PAIR_CELLS // (len(bg) * widest))
    values = np.zeros((len(x), x.shape[1], outputs))
    unstable = np.zeros(len(x), dtype=bool)
    for start in range(0, len(x), k):
        sl = slice(start, start + k)
        mults = []  # per act step, (rows, refs, units) multipliers
        for zx, zb, s in zip(pre_x, pre_b, [s for s in steps if s.kind == "act"], strict=True):
            a, b = zx[sl][:, None, :], zb[None, :, :]
            delta = a - b
            unstable[sl] |= _unstable(s.act, delta)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = (_f(s.act, a) - _f(s.act, b)) / delta
            mults.append(np.where(np.abs(delta) < THRESHOLD, _df(s.act, b), ratio).astype(DTYPE))
        diff = x[sl][:, None, :] - bg[None, :, :]
        for i in range(outputs):
            g = np.zeros((diff.shape[0], len(bg), outputs), dtype=DTYPE)
            g[:, :, i] = 1.0
            m = len(mults)
            for s in reversed(steps):
                if s.kind == "act":
                    m -= 1
                    g = g * mults[m]
                elif s.kind == "dense":
                    g = g @ s.a.T
                elif s.kind == "divide":
                    g = g / s.a
                elif s.kind == "affine":
                    g = g * s.a
            values[sl, :, i] = (g * diff).mean(axis=1)
    return values, unstable


def verified_chain(model: Any, background: np.ndarray, reference: Any,
                   sample: np.ndarray) -> list[Step] | None:
    """The chain of ``model`` if its forward pass matches the model on the background (1e-5)
    and its values match ``reference(sample)`` (DeepExplainer's per-row values) to 1e-6 on the
    sample's well-conditioned rows (the others are recomputed by the reference when used)."""
    from precimed.predict import raw_output

    steps = chain_of(model)
    if steps is None:
        return None
    try:
        out, _ = forward(steps, background)
        if out.shape != raw_output(model, background).shape or \
                np.abs(out - raw_output(model, background)).max() > 1e-5:
            return None
        ref, _ = reference(sample)
        mine, unstable = chain_values_checked(steps, sample, background)
    except (ValueError, AttributeError, TypeError):
        return None
    if mine.shape != ref.shape or unstable.mean() > 0.5 or \
            np.abs(mine - ref)[~unstable].max() > 1e-6:
        return None
    return steps
