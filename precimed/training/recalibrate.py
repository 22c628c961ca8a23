"""Multiclass recalibration of logits, fitted on out-of-fold logits only (see :mod:`.nested`).

Every method is an affine map of the K class logits followed by a softmax,
``P = softmax(z @ W.T + c)``, so the shipped model carries it as one ``Dense(K, softmax)``
layer (on DeepExplainer's allow-list, so explanations stay exact):

- ``matrix``: W full, c free: multinomial logistic regression of the class on the logits
  (scikit-learn, unpenalised), the multiclass form of Platt scaling; K² + K parameters.
- ``vector``: W diagonal, c free (Guo et al. 2017, "vector scaling"); 2K parameters.
- ``temperature+bias``: W = I / T, c free; 1 + K parameters (K - 1 identifiable): one slope for
  all classes, and per-class shifts that undo the class weights' lean toward rare classes.
- ``temperature``: W = I / T, c = 0 (Guo et al. 2017); 1 parameter.

scikit-learn offers only the full (matrix) form; the constrained ones are a few lines of
maximum likelihood with ``scipy.optimize`` (analytic gradient).
"""

from __future__ import annotations

import numpy as np

METHODS = ("matrix", "vector", "temperature+bias", "temperature")


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, "float64")
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def apply(lg: np.ndarray, affine: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Recalibrated probabilities ``softmax(lg @ W.T + c)``."""
    w, c = affine
    return softmax(np.asarray(lg, "float64") @ w.T + c)


def _constrained(lg: np.ndarray, y: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import minimize

    n, k = lg.shape
    onehot = np.eye(k)[y]
    n_slopes = k if method == "vector" else 1
    with_bias = method != "temperature"

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slopes = np.broadcast_to(theta[:n_slopes], (k,))
        bias = theta[n_slopes:] if with_bias else np.zeros(k)
        return slopes, bias

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        slopes, bias = unpack(theta)
        z = lg * slopes + bias
        p = softmax(z)
        loss = -float(np.mean(np.log(np.clip(p[np.arange(n), y], 1e-300, 1.0))))
        g = (p - onehot) / n  # d loss / d z
        g_slopes = (g * lg).sum(axis=0)
        grad = [g_slopes if n_slopes == k else np.array([g_slopes.sum()])]
        if with_bias:
            grad.append(g.sum(axis=0))
        return loss, np.concatenate(grad)

    theta0 = np.concatenate([np.ones(n_slopes), np.zeros(k if with_bias else 0)])
    fit = minimize(nll, theta0, jac=True, method="L-BFGS-B")
    slopes, bias = unpack(fit.x)
    bias = bias - bias.mean()  # softmax is shift-invariant: report centred shifts
    return np.diag(np.asarray(slopes, "float64")), np.asarray(bias, "float64")


def fit(lg: np.ndarray, y: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``method`` on logits ``lg`` (n, K) and class indices ``y``; returns (W (K, K), c (K,))."""
    if method == "matrix":
        from sklearn.linear_model import LogisticRegression

        est = LogisticRegression(C=np.inf, max_iter=5000).fit(lg, y)
        return np.asarray(est.coef_, "float64"), np.asarray(est.intercept_, "float64")
    if method not in METHODS:
        raise ValueError(f"unknown recalibration {method!r} (expected one of {METHODS})")
    return _constrained(np.asarray(lg, "float64"), np.asarray(y), method)
