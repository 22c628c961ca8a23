"""``precimed counterfactual --model ID FILE --row N [--target CLASS] [--n K]``.

Prints a JSON list (with ``--json``): one object per counterfactual with ``changes``
(feature → new value), ``from`` (the old values), ``deltas``, ``probabilities`` after the
change, ``prediction``, ``distance`` (standardized L1), ``n_changes``, ``method`` and
``target``. An empty list means none was found; the reason goes to stderr as a ``note:``.

This module also registers the other what-if commands, ``precimed whatif`` and
``precimed occlusion`` (see :mod:`precimed.cli.whatif_cmd`), so that ``COMMANDS`` needs one
line for all three.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from precimed.cli.common import load_tabular, require_modality
from precimed.registry import get_bundle


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "counterfactual", help="nearest changes to non-fixed features that change the prediction")
    p.add_argument("--model", required=True, help="tabular model id (see `precimed models`)")
    p.add_argument("file", help="CSV/TSV/Parquet with the model's input columns")
    p.add_argument("--row", type=int, default=0, help="0-based row of the table (default 0)")
    p.add_argument("--target", default=None,
                   help="class to reach (default: the other class; multiclass: the runner-up)")
    p.add_argument("--n", type=int, default=3, help="number of diverse counterfactuals (default 3)")
    p.add_argument("--max-changes", type=int, default=None,
                   help="most features one counterfactual may change (default: 5, then 10, then 20 "
                        "until enough are found)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=run, text=_text)
    from precimed.cli import whatif_cmd

    whatif_cmd.register(sub)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from precimed.whatif.counterfactual import find_counterfactuals
    from precimed.whatif.edits import row_values

    bundle = get_bundle(args.model)
    require_modality(bundle, "tabular")
    table = load_tabular(bundle, args.file)
    row = row_values(table, args.row)
    found = find_counterfactuals(bundle, row, target=args.target, n=args.n,
                                 max_changes=args.max_changes)
    print(f"note: method: {found.method}; {found.model_rows} model rows in {found.seconds:.2f} s",
          file=sys.stderr)
    if found.note:
        print(f"note: {found.note}", file=sys.stderr)
    return [{**c.to_json(), "method": found.method, "target": found.target,
             "original_probabilities": found.original_probabilities}
            for c in found.counterfactuals]


def _text(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no counterfactual found (see the note above)"
    lines = [f"target: {items[0]['target']}"]
    for k, item in enumerate(items, 1):
        probs = ", ".join(f"{c} {p:.3f}" for c, p in item["probabilities"].items())
        lines.append(f"#{k}: {item['n_changes']} change(s), "
                     f"distance {item['distance']:.3f} → {probs}")
        for f, v in item["changes"].items():
            old = item["from"][f]
            lines.append(f"    {f}: {old} → {v}" if isinstance(v, str)
                         else f"    {f}: {old:.4g} → {v:.4g} ({v - old:+.4g})")
    return "\n".join(lines)
