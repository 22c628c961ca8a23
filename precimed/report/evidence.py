"""The honest-evaluation sections of a card as tables, sentences and plots (Model cards page).

Reads only the card (no model, no lifelines): calibration intercept and slope, baselines with
the verdict, subgroups with the weaker call-outs, the survival block with its Kaplan–Meier
curves and the paper's figures beside ours, explanation sanity checks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from precimed.plots import AWAY, TOWARD
from precimed.report.evidence_text import ci_text

_GROUP_COLOURS = [AWAY, TOWARD, "#009E73", "#CC79A7"]


def _auc_key(card: dict[str, Any]) -> str:
    return "auroc" if card["task"] == "binary" else "auroc_macro"


def calibration_table(card: dict[str, Any]) -> pd.DataFrame | None:
    """Intercept and slope with CI and the ideal value; per class for multiclass cards."""
    cal = card["evaluation"].get("calibration", {})
    if "intercept" not in cal:
        return None
    blocks = [("all classes pooled" if cal.get("per_class") else "model", cal)]
    blocks += [(f"P({name})", b) for name, b in (cal.get("per_class") or {}).items() if "intercept" in b]
    rows = []
    for label, b in blocks:
        rows.append({"probabilities": label, "calibration intercept (ideal 0)": ci_text(b["intercept"], 2),
                     "calibration slope (ideal 1)": ci_text(b["slope"], 2),
                     "calibrated?": "yes" if b.get("calibrated") else "no"})
    return pd.DataFrame(rows)


def baselines_table(card: dict[str, Any]) -> pd.DataFrame | None:
    """The network and each baseline: discrimination and Brier with CIs (same folds and repeats)."""
    ev = card["evaluation"]
    if not ev.get("baselines"):
        return None
    key = _auc_key(card)
    label = "AUROC (95% CI)" if key == "auroc" else "macro AUROC (95% CI)"

    def row(name: str, m: dict[str, Any]) -> dict[str, Any]:
        rr = m[key].get("repeat_range")
        return {"model": name, label: ci_text(m[key]), "Brier (95% CI)": ci_text(m["brier"]),
                "single CV repeats": f"{rr[0]:.3f}–{rr[1]:.3f}" if rr else "—"}

    rows = [row("this network", ev["metrics"])] + [row(b["name"], b) for b in ev["baselines"]]
    return pd.DataFrame(rows)


def subgroups_table(card: dict[str, Any]) -> pd.DataFrame | None:
    """One row per subgroup: n, AUROC with CI, observed vs predicted risk, the weaker mark."""
    subs = card["evaluation"].get("subgroups") or []
    if not subs:
        return None
    rows = []
    for s in subs:
        cil = s.get("calibration_in_the_large") or {}
        rows.append({
            "factor": s["factor"], "level": s["level"], "n": s["n"],
            "AUROC (95% CI)": ci_text(s.get("auroc")),
            "observed / predicted risk": (f"{cil['observed']:.1%} / {cil['predicted']:.1%}"
                                          if cil else "—"),
            "calibration intercept (95% CI)": ci_text(cil.get("intercept"), 2) if cil else "—",
            "weaker?": "WEAKER" if s.get("weaker") else (s.get("note") or ""),
        })
    return pd.DataFrame(rows)


def km_figure(card: dict[str, Any]) -> go.Figure | None:
    """Kaplan–Meier curves per predicted group, from the curve points stored in the card."""
    surv = card["evaluation"].get("survival")
    if not surv:
        return None
    fig = go.Figure()
    for k, g in enumerate(surv["groups"]):
        curve = g.get("curve")
        if not curve:
            continue
        colour = _GROUP_COLOURS[k % len(_GROUP_COLOURS)]
        if curve.get("lower") and curve.get("upper"):
            fig.add_trace(go.Scatter(x=curve["time"] + curve["time"][::-1],
                                     y=curve["upper"] + curve["lower"][::-1], fill="toself",
                                     line={"width": 0, "shape": "hv"}, fillcolor=colour, opacity=0.15,
                                     hoverinfo="skip", showlegend=False, name=f"{g['group']} 95% CI"))
        fig.add_trace(go.Scatter(x=curve["time"], y=curve["survival"], mode="lines",
                                 line={"color": colour, "shape": "hv"},
                                 name=f"{g['group']} (n = {g['n']})"))
    fig.update_layout(title="Distant-metastasis-free survival by predicted group (out-of-fold)",
                      xaxis_title="years since diagnosis", yaxis_title="DMFS (Kaplan–Meier)",
                      yaxis={"range": [0, 1.02]}, height=380, margin={"t": 50, "b": 40})
    for years in (5, 10):
        fig.add_vline(x=years, line={"dash": "dot", "color": "#999999"})
    return fig


def _group_cols(groups: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(low, high) group of a list ordered low risk first."""
    return (groups[0], groups[-1]) if groups else (None, None)


def survival_table(card: dict[str, Any]) -> pd.DataFrame | None:
    """Our figures beside Desmedt 2007 and the published score on the same patients."""
    surv = card["evaluation"].get("survival")
    if not surv:
        return None
    sources = [("this network (out-of-fold)", surv)]
    if surv.get("paper"):
        sources.append(("Desmedt 2007 (paper)", surv["paper"]))
    if surv.get("reference"):
        sources.append(("published 76-gene score, same patients", surv["reference"]))
    rows = []
    for label, src in sources:
        low, high = _group_cols(src.get("groups", []))
        hr = src.get("hazard_ratio", {})
        unadj, adj = hr.get("unadjusted"), hr.get("adjusted")
        if unadj is None and adj is None and "value" in hr:
            unadj, adj = (None, hr) if hr.get("adjusted_for") else (hr, None)
        adj_for = ", ".join((adj or {}).get("adjusted_for", []))
        rows.append({
            "source": label,
            "low / high group n": (f"{low.get('n', '—')} / {high.get('n', '—')}" if low and high else "—"),
            "5-y DMFS, low risk": ci_text((low or {}).get("dmfs_5y"), pct=True),
            "5-y DMFS, high risk": ci_text((high or {}).get("dmfs_5y"), pct=True),
            "10-y DMFS, low risk": ci_text((low or {}).get("dmfs_10y"), pct=True),
            "10-y DMFS, high risk": ci_text((high or {}).get("dmfs_10y"), pct=True),
            "HR at 5 y, unadjusted": ci_text(unadj, 2),
            "HR at 5 y, adjusted": ci_text(adj, 2) + (f" for {adj_for}" if adj and adj_for else ""),
            "sensitivity": ci_text(src.get("sensitivity"), 2),
            "specificity": ci_text(src.get("specificity"), 2),
        })
    return pd.DataFrame(rows).set_index("source").T.reset_index(names="figure")


def sanity_table(card: dict[str, Any]) -> pd.DataFrame | None:
    """``explanation.sanity_checks`` as a generic table (nested figures flattened)."""
    checks = card.get("explanation", {}).get("sanity_checks") or []
    if not checks:
        return None
    rows = []
    for c in checks:
        row: dict[str, Any] = {}
        for k, v in c.items():
            if isinstance(v, dict):
                row.update({f"{k} {kk}": vv for kk, vv in v.items() if not isinstance(vv, dict | list)})
            elif not isinstance(v, list):
                row[k] = v
        rows.append(row)
    return pd.DataFrame(rows)


def factors_text(card: dict[str, Any]) -> str:
    """The factors section in words: what was evaluated, or plainly that nothing could be."""
    f = card.get("factors") or {}
    parts = []
    if f.get("relevant"):
        parts.append(f["relevant"])
    evaluated = f.get("evaluated") or []
    if evaluated:
        names = ", ".join(e.get("label", e["name"]) for e in evaluated)
        parts.append(f"Subgroup figures below for: {names}.")
    if f.get("note"):
        parts.append(f["note"])
    return " ".join(parts)


def tuning_text(card: dict[str, Any]) -> str | None:
    """``training.tuning_protocol`` in a few sentences: how the network's recipe was chosen."""
    proto = (card.get("training") or {}).get("tuning_protocol")
    if not proto:
        return None
    parts = [f"Outer: {proto.get('outer', '—')}; inner: {proto['inner']}.",
             f"Grid ({len(proto['grid'])} points, {proto.get('grid_order', '')}): "
             + "; ".join(proto["grid"]) + ".",
             f"Selection: {proto['selection_metric']}.",
             f"Recalibration: {proto.get('recalibration', '—')}.",
             f"Ensemble: {proto.get('ensemble', '—')}.",
             f"Shipped: {proto.get('shipped_point', '—')}.",
             proto["optimism"]]
    return " ".join(parts)


def tuning_table(card: dict[str, Any]) -> pd.DataFrame | None:
    """Variants measured at the inner-chosen points (shipped first): AUROC, Brier, calibration."""
    proto = (card.get("training") or {}).get("tuning_protocol") or {}
    variants = proto.get("variants_at_the_chosen_points")
    if not variants:
        return None
    rows = []
    for v in variants:
        row = {"variant": v["variant"]}
        for key, label in (("auroc", "AUROC" if card["task"] == "binary" else "macro AUROC"),
                           ("brier", "Brier"), ("slope", "calibration slope"),
                           ("intercept", "calibration intercept")):
            m = v.get(key) or {}
            rr = m.get("repeat_range")
            row[label] = (f"{m['value']:.3f}" + (f" ({rr[0]:.3f}–{rr[1]:.3f})" if rr else "")
                          if m else "—")
        rows.append(row)
    return pd.DataFrame(rows)
