"""The ``evaluation.survival`` block of a time-to-event model's card (the genomic network).

Risk groups come from out-of-fold predictions only: the training rows' predictions averaged over
the CV repeats, and for the patients excluded from the 5-year label (censored before 5 years)
the mean over all fold models, none of which saw them. The statistics are
:func:`precimed.evaluation.survival.survival_summary` (lifelines). The effect of excluding the
censored patients from the 5-year label is measured: AUROC on the labelled rows against
scikit-survival's time-dependent, inverse-probability-of-censoring-weighted AUROC at 5 years on
every patient.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from precimed.evaluation.bootstrap import _r

REFERENCE_ID = "relapse-score-wang2005"

# Desmedt et al., Clin Cancer Res 2007;13:3207 (TRANSBIG, the 76-gene signature), as quoted in
# ../shared/anchors/README.md; sensitivity/specificity are Wang 2005's own test set.
DESMEDT_2007: dict[str, Any] = {
    "citation": "Desmedt C et al. Clin Cancer Res 2007;13:3207-14 (76-gene signature on TRANSBIG); "
                "sensitivity/specificity: Wang Y et al. Lancet 2005;365:671-9, own test set",
    "groups": [
        {"group": "good signature (low risk)", "dmfs_5y": {"value": 0.98, "ci95": [0.88, 1.0]},
         "dmfs_10y": {"value": 0.94, "ci95": [0.83, 0.98]}},
        {"group": "poor signature (high risk)", "dmfs_5y": {"value": 0.76, "ci95": [0.68, 0.82]},
         "dmfs_10y": {"value": 0.73, "ci95": [0.65, 0.79]}},
    ],
    "hazard_ratio": {"value": 13.58, "ci95": [1.85, 99.63],
                     "adjusted_for": ["Adjuvant! Online risk"], "horizon_days": 1826.25},
    "sensitivity": {"value": 0.93}, "specificity": {"value": 0.48},
}

# The published score on these 198 patients, as measured in ../shared/anchors/README.md; used
# only when the reference bundle's own card is not installed.
REFERENCE_ON_THESE_DATA: dict[str, Any] = {
    "model": REFERENCE_ID, "source": "shared/anchors/README.md (measured on the same 198 patients)",
    "groups": [
        {"group": "low risk", "n": 38, "dmfs_5y": {"value": 0.974, "ci95": [0.828, 0.996]},
         "dmfs_10y": {"value": 0.945, "ci95": [0.797, 0.986]}},
        {"group": "high risk", "n": 160, "dmfs_5y": {"value": 0.786, "ci95": [0.713, 0.842]},
         "dmfs_10y": {"value": 0.75, "ci95": [0.674, 0.811]}},
    ],
    "hazard_ratio": {"unadjusted": {"value": 8.66, "ci95": [1.19, 63.3]},
                     "adjusted": {"value": 6.43, "ci95": [0.87, 47.8],
                                  "adjusted_for": ["age", "size", "grade", "er"]}},
    "sensitivity": {"value": 0.97}, "specificity": {"value": 0.23},
    "auroc_5y": {"value": 0.718, "ci95": [0.633, 0.8]},
}


def reference_figures(models_dir: Any = None) -> dict[str, Any]:
    """The reference score's survival figures: from its bundle's card if installed, else the anchors'."""
    from precimed.registry import REPO_MODELS_DIR

    path = (models_dir or REPO_MODELS_DIR) / REFERENCE_ID / "card.json"
    if path.is_file():
        surv = json.loads(path.read_text("utf-8")).get("evaluation", {}).get("survival")
        if surv:
            keep = ("groups", "hazard_ratio", "sensitivity", "specificity", "auroc_5y")
            out = {k: surv[k] for k in keep if k in surv}
            for g in out.get("groups", []):
                g.pop("curve", None)
            return {"model": REFERENCE_ID, "source": f"the {REFERENCE_ID} bundle's card", **out}
    return dict(REFERENCE_ON_THESE_DATA)


def ipcw_auroc(time: np.ndarray, event: np.ndarray, risk: np.ndarray, horizon: float) -> float:
    """Cumulative/dynamic AUROC at ``horizon`` with IPCW weights (scikit-survival), all patients."""
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    s = Surv.from_arrays(event=event.astype(bool), time=time)
    auc, _ = cumulative_dynamic_auc(s, s, risk, [horizon])
    return float(np.asarray(auc).ravel()[0])


def survival_block(card: dict[str, Any], y01: np.ndarray, probs: np.ndarray, cv: Any,
                   surv: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """Kaplan–Meier, hazard ratios, sensitivity/specificity, the censoring statement, references.

    Args:
        y01: 0/1 label of the training rows; probs: (repeats, rows, 2) [negative, positive].
        cv: the CV predictions (``extra``: the label-excluded patients, card class order).
        surv: ``time`` and ``event`` for the training rows then the extra rows, ``horizon_days``,
            and ``clinical`` (age, size, grade, er in the same order) for the adjusted ratio.
    """
    from sklearn.metrics import roc_auc_score

    from precimed.evaluation.survival import survival_summary

    pos = card["classes"].index(card["positive_class"])
    p_rows = probs.mean(axis=0)[:, 1]
    p_extra = (cv.extra.mean(axis=0)[:, pos] if cv.extra is not None else np.zeros(0))
    risk = np.concatenate([p_rows, p_extra])
    time = np.asarray(surv["time"], dtype="float64")
    event = np.asarray(surv["event"], dtype=bool)
    if len(time) != len(risk):
        raise ValueError(f"{len(time)} survival times for {len(risk)} predicted patients")
    threshold = float(card["threshold"])
    high = risk >= threshold
    clinical = pd.DataFrame(surv["clinical"]).reset_index(drop=True).copy()
    if "grade" in clinical:  # 2 unknown grades: the mode, as for the model's input
        known = clinical["grade"] != "unknown"
        clinical.loc[~known, "grade"] = clinical.loc[known, "grade"].mode().iloc[0]
    source = ("out-of-fold predictions: the labelled patients' averaged over the CV repeats, "
              f"the {len(p_extra)} label-excluded patients' averaged over all fold models (none "
              f"trained on them); high risk when P({card['positive_class']}) ≥ {threshold}")
    out = survival_summary(time, event, high, covariates=clinical, paper=DESMEDT_2007, source=source)
    horizon = float(surv.get("horizon_days", 1826.25))
    auroc_labelled = float(roc_auc_score(y01, p_rows))
    ipcw = ipcw_auroc(time, event, risk, horizon)
    excluded = len(p_extra)
    out["censoring"] = {
        "excluded_from_label": excluded,
        "auroc_excluding_censored": {"value": _r(auroc_labelled), "n": int(len(p_rows))},
        "auroc_ipcw_5y": {"value": _r(ipcw), "n": int(len(risk)),
                          "method": "scikit-survival cumulative_dynamic_auc at 5 years, IPCW "
                                    "(censoring distribution from these patients)"},
        "statement": (f"{excluded} patients censored before 5 years without a metastasis have no "
                      "5-year label: they are excluded from training and from the AUROC, "
                      "sensitivity and specificity, and kept, with their follow-up, in the "
                      "Kaplan–Meier curves and hazard ratios. Effect of the exclusion: AUROC "
                      f"{auroc_labelled:.3f} on the {len(p_rows)} labelled patients against "
                      f"{ipcw:.3f} time-dependent (IPCW) AUROC at 5 years on all {len(risk)} "
                      f"(difference {auroc_labelled - ipcw:+.3f}; both on repeat-averaged "
                      "out-of-fold predictions)."),
    }
    out["reference"] = reference_figures()
    return out
