"""Published reference bundle: the 76-gene Relapse Score (Wang et al., Lancet 2005), fixed weights.

Nothing is trained. The published algorithm (genefu ``gene76``) is

* ER-positive: score = 313.5 + Σ coefficient × expression over the 60 ``er == 1`` probe sets;
* ER-negative: score = 280 + Σ coefficient × expression over the 16 ``er == 0`` probe sets;
* high risk when score ≥ 0;

on log2 MAS5 expression (the scale of GSE7390 as shipped in scikit-survival).

It is written as a Keras model of built-in layers only, so that the registry loads it with
``safe_mode=True`` and SHAP's DeepExplainer, what-if, cohort scoring and the report treat it like
any network:

* ``gated_scores`` (Dense, ReLU, 4 units): ``relu(±s_pos − M·er_negative)`` and
  ``relu(±s_neg − M·er_positive)``. Both ER columns are one-hot, so for the patient's own ER
  group the gate term is exactly 0 and the unit carries the published score (its positive or
  negative part), while the other group's units are ``relu(s − M) = 0`` whenever |s| < M.
  A multiplication by the ER indicator would need a Multiply layer, which DeepExplainer does
  not handle exactly and which the explainer allow-list (precimed/explain/tabular.py) refuses.
* ``relapse_score`` (Dense, linear): (+1, −1, +1, −1) → the published score itself.
* ``probability`` (Dense, sigmoid): score / T. Positive class iff score ≥ 0 iff output ≥ 0.5.

With M = 8192 the gating is exact for every expression value of magnitude below 44 (log2 MAS5
values lie between 0 and 16), because |s| ≤ 313.5 + 177.17·|x| for the ER-positive formula and
≤ 280 + 49.08·|x| for the ER-negative one.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODEL_ID = "relapse-score-wang2005"
NETWORK_ID = "breast-metastasis-gse7390"
SIGNATURE_CSV = Path(__file__).resolve().parent / "data" / "wang2005_sig_gene76.csv"
SIGNATURE_SHA256 = "b33989d98abee7ed778637f36513a505257adba4aa1b36a9867ea5c25d6a1114"
INTERCEPT = {"positive": 313.5, "negative": 280.0}
GATE_M = 8192.0
TEMPERATURE = 50.0  # score / T: the scores on GSE7390 (-74 to 169) map to 0.19-0.97, unsaturated
CITATION = ("Wang Y, Klijn JGM, Zhang Y, et al. Gene-expression profiles to predict distant metastasis "
            "of lymph-node-negative primary breast cancer. Lancet 2005;365(9460):671-679. "
            "doi:10.1016/S0140-6736(05)17947-1")
DESMEDT = ("Desmedt C, Piette F, Loi S, et al. Strong time dependence of the 76-gene prognostic signature "
           "for node-negative breast cancer patients in the TRANSBIG multicenter independent validation "
           "series. Clin Cancer Res 2007;13(11):3207-14. doi:10.1158/1078-0432.CCR-06-2765")
# Desmedt et al. 2007 (TRANSBIG, the same cohort), as the anchors README quotes them.
PAPER = {
    "citation": DESMEDT,
    "groups": [
        {"group": "low risk", "dmfs_5y": {"value": 0.98, "ci95": [0.88, 1.00]},
         "dmfs_10y": {"value": 0.94, "ci95": [0.83, 0.98]}},
        {"group": "high risk", "dmfs_5y": {"value": 0.76, "ci95": [0.68, 0.82]},
         "dmfs_10y": {"value": 0.73, "ci95": [0.65, 0.79]}},
    ],
    "hazard_ratio": {"adjusted": {"value": 13.58, "ci95": [1.85, 99.63], "adjusted_for": ["Adjuvant! Online risk"],
                                  "horizon_days": 1826.25}},
    "sensitivity": {"value": 0.93, "note": "Wang et al. 2005, their own test set (171 patients)"},
    "specificity": {"value": 0.48, "note": "Wang et al. 2005, their own test set (171 patients)"},
    "note": "group sizes are not stated in the abstract",
}


def signature() -> pd.DataFrame:
    """The 76 probe sets with coefficients, checked against the recorded checksum."""
    data = SIGNATURE_CSV.read_bytes()
    if hashlib.sha256(data).hexdigest() != SIGNATURE_SHA256:
        raise RuntimeError(f"{SIGNATURE_CSV} differs from the published signature copy (checksum)")
    sig = pd.read_csv(SIGNATURE_CSV)
    sig["column"] = "X" + sig["probe"]
    return sig


def gene_symbols() -> dict[str, str]:
    """Probe column (``X205225_at``) → gene symbol: HUGO, else NCBI; probes with neither are absent."""
    out: dict[str, str] = {}
    for _, r in signature().iterrows():
        for key in ("HUGO.gene.symbol", "NCBI.gene.symbol"):
            if isinstance(r[key], str) and r[key].strip():
                out[str(r["column"])] = r[key].strip()
                break
    return out


def relapse_score(frame: pd.DataFrame) -> np.ndarray:
    """The published score in float64 from raw expression and ``er`` ('positive'/'negative')."""
    sig = signature()
    er = frame["er"].astype(str).str.lower().to_numpy()
    score = np.full(len(frame), np.nan)
    for flag, level in ((1, "positive"), (0, "negative")):
        sub = sig[sig["er"] == flag]
        mask = er == level
        score[mask] = INTERCEPT[level] + frame.loc[mask, list(sub["column"])].to_numpy(dtype="float64") @ \
            sub["std.cox.coefficient"].to_numpy(dtype="float64")
    return score


def inputs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Card inputs: the 76 probe columns (as in the network's card) and ``er``."""
    symbols = gene_symbols()
    sig = signature().set_index("column")
    specs: list[dict[str, Any]] = []
    for col in sorted(sig.index):
        values = frame[col].astype("float64")
        group = "ER-positive" if int(sig.loc[col, "er"]) == 1 else "ER-negative"
        item: dict[str, Any] = {
            "name": col, "dtype": "float",
            "min": math.floor(float(values.min()) * 1e6) / 1e6,
            "max": math.ceil(float(values.max()) * 1e6) / 1e6,
            "median": round(float(values.median()), 6), "unit": "log2 expression",
            "description": f"probe set on Affymetrix HG-U133A; {group} formula, published coefficient "
                           f"{float(sig.loc[col, 'std.cox.coefficient']):+g}",
        }
        if col in symbols:
            item["symbol"] = symbols[col]
        specs.append(item)
    specs.append({"name": "er", "dtype": "category", "levels": ["negative", "positive"], "median": "positive",
                  "fixed": True, "description": "oestrogen-receptor status: chooses the formula"})
    return specs


def build_model(card_inputs: list[dict[str, Any]]) -> Any:
    """The fixed-weight Keras model for inputs encoded as :func:`precimed.tabular.validate.encode`
    does for a card with ``card_inputs``."""
    import keras

    from precimed.tabular.validate import encoded_columns

    enc = encoded_columns({"modality": "tabular", "inputs": card_inputs})
    pos = {c: j for j, c in enumerate(enc)}
    sig = signature()
    w1 = np.zeros((len(enc), 4), dtype="float64")
    b1 = np.zeros(4, dtype="float64")
    for unit, (flag, level, other, sign) in enumerate(
            ((1, "positive", "negative", 1.0), (1, "positive", "negative", -1.0),
             (0, "negative", "positive", 1.0), (0, "negative", "positive", -1.0))):
        for _, r in sig[sig["er"] == flag].iterrows():
            w1[pos[(str(r["column"]), None)], unit] = sign * float(r["std.cox.coefficient"])
        b1[unit] = sign * INTERCEPT[level]
        w1[pos[("er", other)], unit] = -GATE_M
    inp = keras.Input((len(enc),), name="features")
    h = keras.layers.Dense(4, activation="relu", name="gated_scores")(inp)
    score = keras.layers.Dense(1, name="relapse_score")(h)
    out = keras.layers.Dense(1, activation="sigmoid", name="probability")(score)
    model = keras.Model(inp, out, name="relapse_score_wang2005")
    model.get_layer("gated_scores").set_weights([w1.astype("float32"), b1.astype("float32")])
    model.get_layer("relapse_score").set_weights([np.array([[1.0], [-1.0], [1.0], [-1.0]], dtype="float32"),
                                                  np.zeros(1, dtype="float32")])
    model.get_layer("probability").set_weights([np.array([[1.0 / TEMPERATURE]], dtype="float32"),
                                                np.zeros(1, dtype="float32")])
    return model


def cohort() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """All 198 TRANSBIG patients: features (grade as text, 'unkown' kept), DMFS days, event."""
    from sksurv.datasets import load_breast_cancer

    X, y = load_breast_cancer()
    X = X.copy()
    X["er"] = X["er"].astype(str)
    X["grade"] = X["grade"].astype(str)
    return X.reset_index(drop=True), np.asarray(y["t.tdm"], dtype="float64"), np.asarray(y["e.tdm"], dtype=bool)


def evaluate(X: pd.DataFrame, days: np.ndarray, event: np.ndarray, score: np.ndarray,
             prob: np.ndarray, threshold: float) -> dict[str, Any]:
    """Card ``evaluation``: metrics, calibration and subgroups on the 5-year label (189 patients
    whose status at 5 years is known), survival on all 198. One set of predictions (no CV), so
    the bootstrap is over patients only."""
    from sklearn.metrics import roc_auc_score

    from precimed.evaluation.pipeline import calibration_block
    from precimed.evaluation.subgroups import WEAKER_RULE, evaluate_subgroups
    from precimed.evaluation.survival import FIVE_YEARS_DAYS, label_at, survival_summary
    from precimed.evaluation.survival_card import ipcw_auroc
    from precimed.training.common import binary_metrics
    from precimed.training.transbig import age_band

    label, known = label_at(days, event, FIVE_YEARS_DAYS)
    y, p = label[known], prob[known]
    evaluation: dict[str, Any] = {
        "method": ("the published score applied unchanged to all 198 TRANSBIG patients (GEO GSE7390 via "
                   "scikit-survival); nothing was fitted on this cohort; 5-year label on the 189 whose "
                   "status at 5 years is known (9 censored before 5 years excluded); 95% CIs by "
                   "stratified bootstrap over patients (2000 resamples)"),
    }
    evaluation.update(binary_metrics(y, p, threshold=threshold))
    calibration = calibration_block(  # nothing was fitted: every prediction is out of sample
        y, p[None, :], n_boot=2000, seed=20261125, source=None,
        curve="quantile bins of the predictions on the 189 labelled patients")
    calibration["note"] = ("the output is sigmoid(score / 50), a monotone transform of the relapse score, "
                           "not a calibrated risk: these figures show how far it is from one")
    evaluation["calibration"] = calibration
    grade = X["grade"].astype(str).replace({"unkown": "unknown"})
    factors = {
        "er": {"input": "er", "label": "ER status", "levels": ["negative", "positive"],
               "values": X["er"].astype(str)[known].tolist()},
        "grade": {"input": "grade", "label": "histological grade",
                  "levels": ["well differentiated", "intermediate", "poorly differentiated", "unknown"],
                  "values": grade[known].tolist()},
        "age band": {"input": "age", "label": "age",
                     "bands": [{"level": "under 40", "below": 40}, {"level": "40-49", "below": 50},
                               {"level": "50 and over"}],
                     "values": [age_band(a) for a in X["age"].astype(float)[known]]},
    }
    probs2 = np.stack([1 - p, p], axis=1)[None, :, :]
    evaluation["subgroups"] = evaluate_subgroups(
        factors, y, probs2, lambda yy, pp: float(roc_auc_score(yy, pp[:, 1])),
        float(evaluation["metrics"]["auroc"]["value"]), n_boot=2000, seed=20261125, positive=y)
    evaluation["subgroup_rule"] = WEAKER_RULE
    evaluation["factors_spec"] = {k: {kk: vv for kk, vv in v.items() if kk != "values"} | {"name": k}
                                  for k, v in factors.items()}
    evaluation["baselines"] = []
    evaluation["baseline_verdict"] = ("Not applicable: nothing was fitted on this cohort. The published score "
                                      "is itself the reference that the network and its baselines are "
                                      "compared with.")
    covariates = pd.DataFrame({"age": X["age"].astype("float64"), "size": X["size"].astype("float64"),
                               # 2 'unkown' grades get the mode, as in the network's recipe
                               "grade": X["grade"].astype(str).replace({"unkown": "intermediate"}),
                               "er": X["er"].astype(str)})
    high = score >= 0
    surv = survival_summary(days, event, high, covariates=covariates,
                            paper=PAPER, source="the published score's risk groups (score >= 0: high risk)")
    auroc_known = float(roc_auc_score(y, score[known]))
    ipcw = ipcw_auroc(days, event, score, FIVE_YEARS_DAYS)
    surv["auroc_5y"] = evaluation["metrics"]["auroc"]
    surv["censoring"] = {
        "excluded_from_label": int((~known).sum()),
        "auroc_excluding_censored": {"value": round(auroc_known, 4), "n": int(known.sum())},
        "auroc_ipcw_5y": {"value": round(ipcw, 4), "n": len(days),
                          "method": "scikit-survival cumulative_dynamic_auc at 5 years, IPCW"},
        "statement": (f"{int((~known).sum())} patients censored before 5 years without a metastasis have no "
                      "5-year label: they are excluded from the AUROC, sensitivity and specificity, and kept, "
                      "with their follow-up, in the Kaplan–Meier curves and hazard ratios. Effect of the "
                      f"exclusion: AUROC {auroc_known:.3f} on the {int(known.sum())} labelled patients against "
                      f"{ipcw:.3f} time-dependent (IPCW) AUROC at 5 years on all {len(days)}."),
    }
    evaluation["metrics"]["sensitivity"] = surv["sensitivity"]
    evaluation["metrics"]["specificity"] = surv["specificity"]
    evaluation["metrics"]["high_risk_share"] = {"value": round(float(high.mean()), 4)}
    evaluation["survival"] = surv
    return evaluation


def caveats(card: dict[str, Any]) -> list[str]:
    """Caveats generated from the figures: the calibration statement and every weaker subgroup
    (worded by :func:`precimed.evaluation.caveats.caveat_line`, which the card check expects)."""
    from precimed.evaluation.caveats import caveat_line

    ev = card["evaluation"]
    out = ["Its output is a monotone transform of the relapse score, not a calibrated risk: "
           + ev["calibration"]["statement"]]
    out += [caveat_line(card, sub) for sub in ev["subgroups"] if sub.get("weaker")]
    return out


def card(frame: pd.DataFrame, evaluation: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": MODEL_ID,
        "kind": "published_reference",
        "citation": CITATION,
        "reference_for": [NETWORK_ID],
        "name": "76-gene Relapse Score (Wang et al. 2005), published reference",
        "version": "1.0.0",
        "task": "binary",
        "modality": "tabular",
        "subject": "patient",
        "classes": ["low risk", "high risk"],
        "positive_class": "high risk",
        "threshold": 0.5,
        "output": {
            "what": "sigmoid(relapse score / 50): a monotone transform of the published relapse score, "
                    "NOT a calibrated probability of metastasis",
            "score_from_output": "relapse score = 50 × ln(p / (1 − p))",
            "temperature": TEMPERATURE,
            "decision": "high risk exactly when the published relapse score is >= 0 (output >= 0.5)",
        },
        "inputs": inputs(frame),
        "missing_values": "imputed: an empty expression cell gets the median of the 198 TRANSBIG patients, an "
                          "empty ER cell 'positive'; each imputation is flagged. The published algorithm "
                          "has no rule for missing values.",
        "training_data": {
            "source": "none fitted here: coefficients and intercepts published by Wang et al. 2005 "
                      "(derived on 115 lymph-node-negative patients, Rotterdam), as distributed in "
                      "Bioconductor genefu (sig.gene76)",
            "citation": CITATION,
            "n": 115,
            "label_definition": "as published: distant metastasis within 5 years; here evaluated as "
                                "distant metastasis (e.tdm) within 5 years (1826.25 days), patients censored "
                                "before 5 years without an event excluded",
            "class_counts": {},
            "exclusions": f"evaluation cohort: {counts['cohort']} TRANSBIG patients; "
                          f"{counts['excluded']} censored before 5 years excluded from the 5-year label",
            "licence": "coefficients from the publication (genefu, Artistic-2.0); GEO public data for the "
                       "evaluation; scikit-survival (GPL-3.0-or-later) used only to build the bundle",
        },
        "evaluation": evaluation,
        "factors": {
            "relevant": "ER status (it chooses the formula), histological grade, age; platform and "
                        "normalisation of the expression data",
            "evaluated": list(evaluation.pop("factors_spec").values()),
        },
        "ethical_considerations": [
            "Expression data are patient data: PreciMed keeps uploads in memory and writes no identifier.",
            "A published score carries the authority of its journal; it was derived on 115 patients from one "
            "centre and its figures here are an external validation on 198, with wide intervals.",
        ],
        "explanation": {
            "method": "shap.DeepExplainer",
            "background": "100 TRANSBIG patients drawn at random (seed 20261125); the score is linear "
                          "within an ER group, so for a patient against same-ER background rows each "
                          "probe's share of the score is coefficient × (value − background mean); "
                          "against other-ER rows the switch of formula is attributed mostly to 'er'",
            "output_scale": "probability",
        },
        "intended_use": "Research and teaching: the published 76-gene signature shown beside the network "
                        "trained on the same genes, so that a reader can see where they agree and how "
                        "each compares with the literature.",
        "out_of_scope": "Treatment decisions for any patient; node-positive disease; expression data from "
                        "platforms other than Affymetrix HG-U133A or not normalised like GSE7390 (MAS5, log2); "
                        "reading the output as a probability of metastasis.",
        "limitations": [
            "Its output is a monotone transform of the relapse score (sigmoid(score / 50)), not a "
            "calibrated risk: read only the risk group and the score, not the percentage.",
            "Nothing was fitted on this cohort: the figures on TRANSBIG are an external validation of the "
            "published score, while the network's are cross-validated on the same patients (a different "
            "question).",
            "The intercepts (313.5 and 280) only make sense on log2 MAS5 expression from HG-U133A.",
            f"The Keras form is exact while every expression value has magnitude below 44 (gating constant "
            f"M = {GATE_M:g}); real log2 values lie between 0 and 16.",
            "Derived on 115 patients from one centre (Rotterdam); 198 TRANSBIG patients for the figures here, "
            "51 distant metastases: wide confidence intervals.",
        ],
        "not_for_clinical_use": True,
        "produced_by": f"make models (python -m precimed.training {MODEL_ID}); no training",
    }


def train(out_root: Path) -> dict[str, Any]:
    """Write the bundle (no fitting): fixed weights, card with the figures on TRANSBIG."""
    from precimed.predict import raw_output
    from precimed.registry import read_bundle
    from precimed.tabular.validate import encode
    from precimed.training.common import make_deterministic, write_bundle

    make_deterministic(20261125)
    X, days, event = cohort()
    specs = inputs(X)
    model = build_model(specs)
    frame = X[[s["name"] for s in specs]]
    stub = {"modality": "tabular", "inputs": specs}
    prob = raw_output(model, encode(frame, stub))[:, 0]
    score = relapse_score(frame)
    if not np.array_equal(prob >= 0.5, score >= 0):
        raise RuntimeError("the Keras form disagrees with the published score's risk groups")
    known = (event & (days <= 1826.25)) | (days > 1826.25)
    evaluation = evaluate(X, days, event, score, prob, threshold=0.5)
    the_card = card(X, evaluation, {"cohort": len(X), "excluded": int((~known).sum())})
    the_card["caveats"] = caveats(the_card)
    rng = np.random.default_rng(20261125)
    take = np.sort(rng.choice(len(X), size=100, replace=False))
    write_bundle(out_root / MODEL_ID, model, the_card, background=frame.iloc[take].reset_index(drop=True))
    return read_bundle(out_root / MODEL_ID).card


def sample_rows() -> pd.DataFrame:
    """The network's sample patients (same file, all columns), so one table scores with both."""
    from precimed.training.transbig import sample_rows as network_samples

    return network_samples()
