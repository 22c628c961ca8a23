"""``precimed predict --model ID FILE``: one object per row (tabular) or image/frame (DICOM)."""

from __future__ import annotations

import argparse
from typing import Any

from precimed.cli.common import load_tabular
from precimed.predict import predict_table
from precimed.registry import get_bundle


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "predict", help="predict every row of a table, or every image of a DICOM file or zip")
    p.add_argument("--model", required=True, help="model id (see `precimed models`)")
    p.add_argument("file", help="CSV/TSV/Parquet for tabular models; .dcm or .zip for image models")
    p.add_argument("--allow-out-of-scope", action="store_true",
                   help="image models: score images outside the card's scope too (their reasons "
                        "go under warnings); by default they get an 'out of scope:' error")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=run, text=_text)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    bundle = get_bundle(args.model)
    if bundle.modality == "image":
        from precimed.imaging.service import predict_path

        return predict_path(bundle, args.file, allow_out_of_scope=args.allow_out_of_scope)
    table = load_tabular(bundle, args.file)
    rows = [p.to_json() for p in predict_table(bundle, table)]
    from precimed.evaluation import subgroup_caveats

    for r in rows:  # extrapolated / imputed inputs and weaker subgroups, next to the prediction
        if "error" in r:
            continue
        flags = table.row_warnings(r["row"]) + subgroup_caveats(bundle.card, table.frame.iloc[r["row"]].to_dict())
        if flags:
            r["warnings"] = flags
    return rows


def _text(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        key = r.get("source", r.get("row"))
        if "error" in r:
            out.append(f"{key}: error: {r['error']}")
        else:
            probs = ", ".join(f"{k} {v:.3f}" for k, v in r["probabilities"].items())
            flag = " [OUT OF SCOPE]" if r.get("out_of_scope") else ""
            out.append(f"{key}: {r['prediction']} ({probs}){flag}")
            out += [f"  ⚠ {w}" for w in r.get("warnings", [])]
    return "\n".join(out)
