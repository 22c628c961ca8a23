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

def reference_figures(models_dir: Any = None) -> dict[str, Any] | None:
    """The published score's survival figures on the same patients, from its bundle's card."""
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
    return None


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
    from precimed.training.wang2005 import PAPER

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
    out = survival_summary(time, event, high, covariates=clinical, paper=PAPER, source=source)
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
    reference = reference_figures()
    if reference is not None:
        out["reference"] = reference
    return out
