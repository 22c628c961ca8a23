"""``precimed explain --model ID FILE --row N``: SHAP values of one row (or one image frame)."""

from __future__ import annotations

import argparse
from typing import Any

from precimed.cards import feature_labels
from precimed.cli.common import load_tabular
from precimed.errors import PrecimedInputError
from precimed.explain.tabular import explain_rows
from precimed.registry import get_bundle


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("explain", help="SHAP explanation of one row or image")
    p.add_argument("--model", required=True, help="model id (see `precimed models`)")
    p.add_argument("file", help="CSV/TSV/Parquet, or .dcm/.zip for image models")
    p.add_argument("--row", type=int, default=0, help="0-based row of the table (default 0)")
    p.add_argument("--frame", type=int, default=0, help="0-based image/frame index (image models)")
    p.add_argument("--class", dest="class_name", default=None,
                   help="class to explain (default: positive class, or the predicted class)")
    p.add_argument("--heatmap", default=None, help="image models: write the heatmap to this .npy file")
    p.add_argument("--allow-out-of-scope", action="store_true",
                   help="image models: explain an image outside the card's scope anyway")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run, text=_text)


def run(args: argparse.Namespace) -> dict[str, Any]:
    bundle = get_bundle(args.model)
    if bundle.modality == "image":
        from precimed.imaging.service import explain_path

        return explain_path(bundle, args.file, frame=args.frame, heatmap_out=args.heatmap,
                            class_name=args.class_name,
                            allow_out_of_scope=args.allow_out_of_scope)
    table = load_tabular(bundle, args.file)
    if not 0 <= args.row < len(table.frame):
        raise PrecimedInputError(f"row {args.row} does not exist",
                                 expected=f"a row between 0 and {len(table.frame) - 1}")
    [explanation] = explain_rows(bundle, table, [args.row], class_name=args.class_name)
    out = explanation.to_json()
    out["labels"] = feature_labels(bundle.card)  # display names: gene symbols of probe columns
    out["warnings"] = table.row_warnings(args.row)
    out["flagged"] = table.row_flags(args.row)
    return out


def _text(result: dict[str, Any]) -> str:
    if "values" not in result:
        return "\n".join(f"{k}: {v}" for k, v in result.items())
    top = sorted(result["values"].items(), key=lambda kv: -abs(kv[1]))[:15]
    lines = [f"class {result['class']}: output {result['output']:.4f} = base {result['base_value']:.4f} "
             f"+ sum of SHAP values ({result['method']})"]
    labels, flagged = result.get("labels", {}), result.get("flagged", {})
    lines += [f"  {v:+.4f}  {labels.get(k, k)} = {result['feature_values'][k]}"
              + (f"  ⚠ {flagged[k]}" if k in flagged else "") for k, v in top]
    lines += [f"⚠ {w}" for w in result.get("warnings", [])]
    return "\n".join(lines)
