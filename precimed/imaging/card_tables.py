"""Tables of an image card's held-out figures, for the Model cards page and reports.

Pure functions of the card (no model is loaded): each returns a DataFrame, or None when the
card has no such section.

Example:
    >>> card = {"evaluation": {"heldout": [{"name": "heldout family", "n": 600,
    ...     "families": ["rim"], "auroc": {"value": 0.93, "ci95": [0.91, 0.95]}}]}}
    >>> heldout_table(card).iloc[0]["AUROC (95% CI)"]
    '0.930 (0.910–0.950)'
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def _ci(m: dict[str, Any] | None, fmt: str = ".3f") -> str:
    if not m:
        return ""
    ci = m.get("ci95")
    text = format(m["value"], fmt)
    return f"{text} ({format(ci[0], fmt)}–{format(ci[1], fmt)})" if ci else text


def heldout_table(card: dict[str, Any]) -> pd.DataFrame | None:
    """One row per held-out test set: what was held out, AUROC, pointing game, deletion AUC."""
    rows = (card.get("evaluation") or {}).get("heldout")
    if not rows:
        return None
    out = []
    for h in rows:
        fid = h.get("fidelity") or {}
        out.append({
            "held-out set": h["name"],
            "lesion families": ", ".join(h.get("families", [])),
            "images (lesion)": f"{h['n']} ({h.get('n_lesion', '')})",
            "AUROC (95% CI)": _ci(h["auroc"]),
            "Brier (95% CI)": _ci(h.get("brier")),
            "pointing game": _ci(fid.get("pointing_game"), ".0%"),
            "attribution mass in lesion": _ci(fid.get("attribution_mass_in_lesion"), ".0%"),
            "deletion AUC, SHAP order (random order)":
                (f"{fid['deletion_auc_shap_order']['value']:.3f} "
                 f"({fid['deletion_auc_random_order']['value']:.3f})"
                 if fid.get("deletion_auc_shap_order") else ""),
        })
    return pd.DataFrame(out)


def family_table(card: dict[str, Any]) -> pd.DataFrame | None:
    """AUROC per lesion family and per background in each held-out set (lesions of that family
    against every lesion-free image of the set)."""
    rows = (card.get("evaluation") or {}).get("heldout")
    if not rows:
        return None
    out = [{"held-out set": h["name"], "lesion family or background": k, "AUROC": round(v, 3)}
           for h in rows for part in ("auroc_per_family", "auroc_per_background")
           for k, v in (h.get(part) or {}).items()]
    return pd.DataFrame(out) if out else None


def real_images_table(card: dict[str, Any]) -> pd.DataFrame | None:
    """False positives on real images with no lesion: whole files, and their crops."""
    real = (card.get("evaluation") or {}).get("real_images")
    if not real:
        return None
    rows = [{"real images, no lesion": "whole held-out files", "n": real["n"],
             "called 'lesion'": real["false_positives"],
             "false-positive rate (95% CI)": _ci(real["false_positive_rate"], ".1%")}]
    crops = real.get("heldout_crops")
    if crops:
        rows.append({"real images, no lesion": "crops of them", "n": crops["n"],
                     "called 'lesion'": crops["false_positives"],
                     "false-positive rate (95% CI)": _ci(crops["false_positive_rate"], ".1%")})
    return pd.DataFrame(rows)


def sanity_table(card: dict[str, Any]) -> pd.DataFrame | None:
    """The heatmap sanity checks: what was randomised, how, and median ρ(|heatmap|)."""
    checks = (card.get("explanation") or {}).get("sanity_checks")
    if not checks:
        return None
    return pd.DataFrame([{"randomised": c["randomised"], "method": c["method"],
                          "median Spearman ρ of |heatmap|": round(c["spearman_abs"]["median"], 3),
                          "images": c["spearman_abs"]["n"]} for c in checks])
