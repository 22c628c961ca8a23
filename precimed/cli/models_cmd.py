"""``precimed models [ID ...]``: the registered bundles' cards.

Without ids, one line per bundle; with ids, those cards' evaluation evidence in words
(calibration, baselines, weaker subgroups, survival beside the paper and the published score).
"""

from __future__ import annotations

import argparse
from typing import Any

from precimed.registry import get_bundle, list_bundles


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("models", help="list the installed model bundles, "
                                                "or show one card's evaluation evidence")
    p.add_argument("ids", nargs="*", help="model ids to show in full (default: list every bundle)")
    p.add_argument("--json", action="store_true", help="print the cards as a JSON list")
    p.set_defaults(handler=run, text=_text)


def run(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    if not args.ids:
        return [b.card for b in list_bundles()]
    cards = [get_bundle(i).card for i in args.ids]  # an unknown id: exit 2 with the known ones
    if args.json:
        return cards
    print("\n\n".join(_detail(c) for c in cards))
    return None


def _detail(card: dict[str, Any]) -> str:
    from precimed.report.evidence_text import evidence_lines

    lines = [f"{card['name']} ({card['id']}, version {card['version']})",
             f"Evaluation: {card['evaluation']['method']}"]
    lines += [f"{heading}: {text}" for heading, text in evidence_lines(card)]
    lines += [f"Caveat: {c}" for c in card.get("caveats", [])]
    return "\n".join(lines)


def _text(cards: list[dict[str, Any]]) -> str:
    lines = [f"{c['id']:<32} {c['version']:<8} {c['modality']:<8} {c['name']}"
             + (" [user-supplied]" if c.get("user_supplied") else "") for c in cards]
    return "\n".join(lines) or "no models installed"
