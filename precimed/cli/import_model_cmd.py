"""``precimed import-model FILE.zip [--replace] [--json]``: check and install a model bundle.

The bundle goes to the user models folder (``$PRECIMED_USER_MODELS_DIR``, default
``~/.local/share/precimed/models``), where the app and every command find it, marked
user-supplied. See :mod:`precimed.importing` for the checks.
"""

from __future__ import annotations

import argparse
from typing import Any

from precimed.importing import import_bundle_path


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "import-model", help="check a bundle .zip (model.keras + card.json) and install it")
    p.add_argument("file", help="the bundle .zip")
    p.add_argument("--replace", action="store_true",
                   help="replace an imported model with the same id")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run, text=_text)


def run(args: argparse.Namespace) -> dict[str, Any]:
    return import_bundle_path(args.file, replace=args.replace).to_json()


def _text(r: dict[str, Any]) -> str:
    lines = [f"installed '{r['id']}' ({r['name']}, v{r['version']}, {r['modality']} {r['task']}) "
             f"as a user-supplied model", f"  folder: {r['path']}",
             f"  weights SHA-256: {r['weights_sha256']}"]
    if r["replaced"]:
        lines.append("  (replaced the previous import)")
    lines += [f"  note: {n}" for n in r["notes"]]
    return "\n".join(lines)
