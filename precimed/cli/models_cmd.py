"""``precimed models``: the registered bundles' cards."""

from __future__ import annotations

import argparse
from typing import Any

from precimed.registry import list_bundles


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("models", help="list the installed model bundles")
    p.add_argument("--json", action="store_true", help="print the cards as a JSON list")
    p.set_defaults(handler=run, text=_text)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [b.card for b in list_bundles()]


def _text(cards: list[dict[str, Any]]) -> str:
    lines = [f"{c['id']:<32} {c['version']:<8} {c['modality']:<8} {c['name']}"
             + (" [user-supplied]" if c.get("user_supplied") else "") for c in cards]
    return "\n".join(lines) or "no models installed"
