"""The card's honest-evaluation figures in a few sentences, for views with little room.

The Genomics page's card summary, the one-page report and ``precimed models ID`` print the same
lines: calibration (intercept and slope with CI, and whether the card may call it calibrated),
the network against its baselines on the same folds, weaker subgroups, and for time-to-event
cards the Kaplan–Meier, hazard-ratio and sensitivity/specificity figures beside Desmedt 2007 and
the published score, with how censoring before 5 years was handled. Pure functions of the card
(no pandas, no model).
"""

from __future__ import annotations

from typing import Any

from precimed.evaluation.caveats import caveat_line


def ci_text(m: dict[str, Any] | None, digits: int = 3, pct: bool = False) -> str:
    """``0.755 (0.670–0.834)``; ``89.1% (81.0–94.0)`` with ``pct``; ``—`` when missing."""
    if not m or m.get("value") is None:
        return "—"
    scale, unit, d = (100.0, "%", 1) if pct else (1.0, "", digits)
    out = f"{m['value'] * scale:.{d}f}{unit}"
    if m.get("ci95"):
        lo, hi = m["ci95"]
        out += f" ({lo * scale:.{d}f}–{hi * scale:.{d}f})"
    return out


def baselines_sentence(card: dict[str, Any]) -> str | None:
    """``Network 0.763 (…), penalised logistic regression 0.735 (…), random forest … . <verdict>``."""
    ev = card["evaluation"]
    if not ev.get("baselines"):
        return None
    key = "auroc" if card["task"] == "binary" else "auroc_macro"
    word = "AUROC" if key == "auroc" else "macro AUROC"
    parts = [f"this network {ci_text(ev['metrics'][key])}"]
    parts += [f"{b['name']} {ci_text(b[key])}" for b in ev["baselines"]]
    brier = " / ".join(f"{m['brier']['value']:.3f}" for m in [ev["metrics"], *ev["baselines"]])
    return (f"{word} on the same folds and repeats: " + "; ".join(parts)
            + f" (Brier, same order: {brier}). {ev.get('baseline_verdict', '')}").strip()


def _groups(src: dict[str, Any], horizon: str) -> str:
    groups = src.get("groups") or []
    if len(groups) < 2:
        return "—"
    return " / ".join(ci_text(g.get(horizon), pct=True) for g in (groups[0], groups[-1]))


def _hazard(src: dict[str, Any]) -> str:
    hr = src.get("hazard_ratio") or {}
    out = []
    if hr.get("unadjusted"):
        out.append(f"HR {ci_text(hr['unadjusted'], 2)} unadjusted")
    if hr.get("adjusted"):
        adj = hr["adjusted"]
        out.append(f"{'' if out else 'HR '}{ci_text(adj, 2)} adjusted for "
                   f"{', '.join(adj.get('adjusted_for', []))}")
    return ", ".join(out)


def survival_sentence(card: dict[str, Any]) -> str | None:
    """The survival block in one paragraph: ours, the paper's, the published score's."""
    surv = card["evaluation"].get("survival")
    if not surv:
        return None

    def one(label: str, src: dict[str, Any]) -> str:
        text = (f"{label}: 5-year DMFS low / high risk {_groups(src, 'dmfs_5y')}, 10-year "
                f"{_groups(src, 'dmfs_10y')}")
        if _hazard(src):
            text += f"; {_hazard(src)}"
        if src.get("sensitivity"):
            text += (f"; sensitivity {ci_text(src['sensitivity'], 2)}, specificity "
                     f"{ci_text(src.get('specificity'), 2)}")
        return text

    parts = [one("This model (out-of-fold)" if card.get("kind") != "published_reference"
                 else "This score", surv)]
    if surv.get("paper"):
        parts.append(one("Desmedt 2007", surv["paper"]))
    if surv.get("reference"):
        parts.append(one("The published 76-gene score on the same patients", surv["reference"]))
    return ". ".join(parts) + "."


def evidence_lines(card: dict[str, Any]) -> list[tuple[str, str]]:
    """(heading, sentence) pairs of the card's evaluation evidence, in reading order."""
    ev = card.get("evaluation", {})
    out: list[tuple[str, str]] = []
    statement = ev.get("calibration", {}).get("statement")
    if statement:
        out.append(("Calibration", statement))
    if (line := baselines_sentence(card)) is not None:
        out.append(("Against simpler models", line))
    weaker = [caveat_line(card, s) for s in ev.get("subgroups", []) if s.get("weaker")]
    if weaker:
        out.append(("Weaker subgroups", " ".join(weaker)))
    if (line := survival_sentence(card)) is not None:
        out.append(("Survival by predicted risk group", line))
        censoring = ev["survival"].get("censoring", {}).get("statement")
        if censoring:
            out.append(("Censored before 5 years", censoring))
    return out
