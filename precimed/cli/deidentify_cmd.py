"""``precimed deidentify FILE... --out DIR [--allow-burned-in-text] [--json]``: write
de-identified copies of DICOM files (PS3.15 Basic Application Level Confidentiality Profile;
see :mod:`precimed.dicom.deid`).

Images that may carry burned-in text (BurnedInAnnotation YES, ultrasound, secondary capture)
are refused unless ``--allow-burned-in-text`` acknowledges that their pixels are written
unchanged; the output then says which files those are (``pixels_cleaned`` is always false).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from precimed.errors import PrecimedInputError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "deidentify", help="write de-identified copies of DICOM files (PS3.15 basic profile)")
    p.add_argument("files", nargs="+", help="DICOM files")
    p.add_argument("--out", required=True, help="folder for the copies (created; never the "
                   "inputs' own folder)")
    p.add_argument("--allow-burned-in-text", action="store_true",
                   help="also export images that may show burned-in text: their pixels are NOT "
                        "cleaned")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run, text=_text)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from precimed.dicom.deid import METHOD, burned_in_report, deidentify_files

    out = Path(args.out)
    files: dict[str, bytes] = {}
    for raw in args.files:
        path = Path(raw)
        if not path.is_file():
            raise PrecimedInputError(f"{raw}: no such file", expected="DICOM files")
        if path.resolve().parent == out.resolve():
            raise PrecimedInputError(f"{raw}: is in the output folder",
                                     expected="--out a folder apart from the inputs")
        if path.name in files:
            raise PrecimedInputError(f"{path.name}: given twice", expected="distinct file names")
        files[path.name] = path.read_bytes()
    copies = deidentify_files(files, allow_burned_in_text=args.allow_burned_in_text)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in copies.items():
        target = out / f"deidentified_{name}"
        target.write_bytes(data)
        written.append(str(target))
    return {"written": written, "method": METHOD, "pixels_cleaned": False,
            "burned_in_text_not_removed": burned_in_report(files)}


def _text(r: dict[str, Any]) -> str:
    lines = [f"wrote {p}" for p in r["written"]]
    lines.append(f"method: {r['method']}")
    for name, reasons in r["burned_in_text_not_removed"].items():
        lines.append(f"warning: {name}: pixels exported unchanged; may show burned-in text "
                     f"({'; '.join(reasons)})")
    return "\n".join(lines)
