"""Shared pieces of the trainers: determinism, metrics with CIs, bundle writing."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from precimed.registry import CARD_FILE, MODEL_FILE, sha256_file


def make_deterministic(seed: int) -> None:
    """Fix every seed and ask TensorFlow for deterministic kernels."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ["PYTHONHASHSEED"] = str(seed)
    import keras
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def bootstrap_ci(metric: Any, y: np.ndarray, p: np.ndarray, *, n_boot: int = 2000,
                 seed: int = 0, stratified: bool = True) -> tuple[float, float]:
    """Percentile 95% CI of ``metric(y, p)`` by bootstrap over rows (stratified by class)."""
    rng = np.random.default_rng(seed)
    stats: list[float] = []
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratified else [np.arange(len(y))]
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        stats.append(float(metric(y[idx], p[idx])))
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


def binary_metrics(y: np.ndarray, p: np.ndarray, *, threshold: float, n_bins: int = 5) -> dict[str, Any]:
    """AUROC with CI, Brier, sensitivity/specificity at the threshold, and a calibration curve."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss, roc_auc_score

    auc = float(roc_auc_score(y, p))
    brier = float(brier_score_loss(y, p))
    pred = p >= threshold
    sens = float((pred & (y == 1)).sum() / max((y == 1).sum(), 1))
    spec = float((~pred & (y == 0)).sum() / max((y == 0).sum(), 1))
    obs, mean_pred = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
    return {
        "metrics": {
            "auroc": {"value": round(auc, 4), "ci95": [round(v, 4) for v in bootstrap_ci(roc_auc_score, y, p)]},
            "brier": {"value": round(brier, 4),
                      "ci95": [round(v, 4) for v in bootstrap_ci(brier_score_loss, y, p)]},
            "sensitivity": {"value": round(sens, 4)},
            "specificity": {"value": round(spec, 4)},
            "prevalence": {"value": round(float(y.mean()), 4)},
        },
        "calibration": {
            "bins": [round(float(e), 4) for e in edges],
            "predicted": [round(float(v), 4) for v in mean_pred],
            "observed": [round(float(v), 4) for v in obs],
        },
    }


def write_bundle(out_dir: Path, model: Any, card: dict[str, Any],
                 background: Any | None = None) -> Path:
    """Save ``model.keras``, the background CSV and ``card.json`` (with checksums) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / MODEL_FILE
    model.save(weights)
    card = dict(card)
    card["weights_sha256"] = sha256_file(weights)
    if background is not None:
        bg_path = out_dir / "background.csv"
        background.to_csv(bg_path, index=False, float_format="%.10g")
        card.setdefault("explanation", {})
        card["explanation"]["background_file"] = bg_path.name
        card["explanation"]["background_sha256"] = sha256_file(bg_path)
    card.setdefault("created", dt.date.today().isoformat())
    from precimed.cards import validate_card

    validate_card(card, source=str(out_dir / CARD_FILE))
    (out_dir / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return out_dir
