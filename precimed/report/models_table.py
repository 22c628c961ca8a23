"""The README's "networks against their baselines" table, generated from the shipped cards.

``python -m precimed.report.models_table`` prints it (Markdown), so the README can match the cards.
"""

from __future__ import annotations

from typing import Any

from precimed.report.evidence import ci_text


def baselines_markdown(cards: list[dict[str, Any]]) -> str:
    """One row per tabular network card with baselines: network, LR, RF, calibration, subgroups."""
    lines = ["| id | network | logistic regression | random forest | Brier: network / LR / RF "
             "| calibration slope; intercept | weaker subgroups |",
             "|---|---|---|---|---|---|---|"]
    for card in cards:
        ev = card["evaluation"]
        if not ev.get("baselines"):
            continue
        key = "auroc" if card["task"] == "binary" else "auroc_macro"
        lr, rf = ev["baselines"][0], ev["baselines"][1]
        cal = ev["calibration"]
        weak = [f"{s['factor']} {s['level']} {s['auroc']['value']:.2f}" for s in ev.get("subgroups", [])
                if s.get("weaker")]
        subs = "; ".join(weak) if weak else ("none" if ev.get("subgroups") else "no factor in the data")
        brier = " / ".join(f"{m['brier']['value']:.3f}" for m in (ev["metrics"], lr, rf))
        lines.append(f"| `{card['id']}` | {ci_text(ev['metrics'][key])} | {ci_text(lr[key])} | "
                     f"{ci_text(rf[key])} | {brier} | {ci_text(cal['slope'], 2)}; "
                     f"{ci_text(cal['intercept'], 2)} ({'calibrated' if cal['calibrated'] else 'not calibrated'}) "
                     f"| {subs} |")
    return "\n".join(lines)


if __name__ == "__main__":
    from precimed.registry import list_bundles

    print(baselines_markdown([b.card for b in list_bundles()]))
