"""``precimed whatif`` (edit a row, re-predict and re-explain) and ``precimed occlusion``
(occlude part of an image, or map occlusion sensitivity). Registered by
:mod:`precimed.cli.counterfactual_cmd`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from precimed.cli.common import load_tabular, require_modality
from precimed.errors import PrecimedInputError
from precimed.registry import get_bundle


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "whatif", help="change feature values of one row; prediction and SHAP before/after")
    p.add_argument("--model", required=True, help="tabular model id (see `precimed models`)")
    p.add_argument("file", help="CSV/TSV/Parquet with the model's input columns")
    p.add_argument("--row", type=int, default=0, help="0-based row of the table (default 0)")
    p.add_argument("--set", dest="edits", action="append", default=[], metavar="FEATURE=VALUE",
                   help="a new value (repeatable); fixed features are refused")
    p.add_argument("--class", dest="class_name", default=None,
                   help="report SHAP for this class only (default: every class)")
    p.add_argument("--strict", action="store_true",
                   help="refuse values outside the training range instead of flagging them")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run_whatif, text=_whatif_text)

    o: argparse.ArgumentParser = sub.add_parser(
        "occlusion", help="image models: occlude a box, or map occlusion sensitivity")
    o.add_argument("--model", required=True, help="image model id (see `precimed models`)")
    o.add_argument("file", help=".dcm file or .zip of DICOM files")
    o.add_argument("--frame", type=int, default=0, help="0-based image/frame index (default 0)")
    o.add_argument("--box", default=None, metavar="TOP,LEFT,BOTTOM,RIGHT",
                   help="occlude this box (image pixels, inclusive); without it, map sensitivity")
    o.add_argument("--patch", type=int, default=None, help="map: patch size in model pixels")
    o.add_argument("--stride", type=int, default=None, help="map: stride in model pixels")
    o.add_argument("--fill", default="blur", choices=["blur", "mean", "zero"],
                   help="what replaces the occluded pixels (default blur)")
    o.add_argument("--class", dest="class_name", default=None,
                   help="class whose probability is reported")
    o.add_argument("--map-out", default=None, help="map: write it (image size) to this .npy file")
    o.add_argument("--allow-out-of-scope", action="store_true",
                   help="occlude an image outside the card's scope anyway")
    o.add_argument("--json", action="store_true", help="print one JSON object")
    o.set_defaults(handler=run_occlusion, text=None)


def run_whatif(args: argparse.Namespace) -> dict[str, Any]:
    from precimed.whatif.analysis import evaluate_edits
    from precimed.whatif.edits import parse_assignments, row_values

    bundle = get_bundle(args.model)
    require_modality(bundle, "tabular")
    if args.class_name is not None and args.class_name not in bundle.classes:
        raise PrecimedInputError(f"unknown class '{args.class_name}'",
                                 expected=f"one of {bundle.classes}")
    table = load_tabular(bundle, args.file)
    row = row_values(table, args.row)
    result = evaluate_edits(bundle, row, parse_assignments(args.edits),
                            allow_extrapolation=not args.strict)
    for flag in result.flags:
        print(f"warning: {flag.message}", file=sys.stderr)
    return {"row": args.row, **result.to_json(class_name=args.class_name)}


def _whatif_text(result: dict[str, Any]) -> str:
    changes = ", ".join(f"{f} → {v}" for f, v in result["changes"].items())
    lines = [f"row {result['row']}: {changes or 'no change'}"]
    for c, before in result["before"]["probabilities"].items():
        after = result["after"]["probabilities"][c]
        lines.append(f"  P({c}): {before:.4f} → {after:.4f} ({after - before:+.4f})")
    before, after = result["before"]["prediction"], result["after"]["prediction"]
    lines.append(f"  prediction: {before} → {after}")
    cls = next(iter(result["delta_shap"]))
    top = sorted(result["delta_shap"][cls].items(), key=lambda kv: -abs(kv[1]))[:10]
    lines.append(f"  largest SHAP changes for '{cls}' ({result['method']}):")
    lines += [f"    {d:+.4f}  {f}" for f, d in top]
    return "\n".join(lines)


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        top, left, bottom, right = (int(v) for v in text.split(","))
    except ValueError:
        raise PrecimedInputError(f"cannot read the box '{text}'",
                                 expected="four integers TOP,LEFT,BOTTOM,RIGHT") from None
    return top, left, bottom, right


def run_occlusion(args: argparse.Namespace) -> dict[str, Any]:
    from precimed.whatif.occlusion import occlusion_for_path

    bundle = get_bundle(args.model)
    require_modality(bundle, "image")
    return occlusion_for_path(bundle, args.file, frame=args.frame,
                              box=_box(args.box) if args.box else None, patch=args.patch,
                              stride=args.stride, fill=args.fill, class_name=args.class_name,
                              map_out=args.map_out, allow_out_of_scope=args.allow_out_of_scope)
