"""``precimed report --model ID FILE --row N --out FILE.pdf|FILE.html``: a one-page report.

The identifier printed is a keyed hash of the row's identifier column (``patient_id``, ``id``,
``sample``, … or ``--id-column``), or of ``<file name>#<row>`` when the table has none; the raw
identifier is never printed, neither in the report nor on stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from precimed.cli.common import load_tabular, require_modality
from precimed.errors import PrecimedInputError
from precimed.registry import get_bundle
from precimed.report import format_of, identifier_column, pseudonymise, report_for_row
from precimed.tabular.io import read_table


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "report", help="one-page PDF or HTML report of one row (pseudonymised)")
    p.add_argument("--model", required=True, help="model id (see `precimed models`)")
    p.add_argument("file", help="CSV, TSV or Parquet file")
    p.add_argument("--row", type=int, required=True, help="0-based row of the table")
    p.add_argument("--out", required=True, help="output file, .pdf or .html")
    p.add_argument("--id-column", default=None,
                   help="column identifying the subject (default: patient_id, id, sample, …)")
    p.add_argument("--class", dest="class_name", default=None,
                   help="class to explain (default: positive class, or the predicted class)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run, text=_text)


def run(args: argparse.Namespace) -> dict[str, Any]:
    fmt = format_of(args.out)
    bundle = get_bundle(args.model)
    require_modality(bundle, "tabular")
    raw = read_table(Path(args.file))
    column = args.id_column or identifier_column(list(raw.columns))
    if args.id_column and args.id_column not in raw.columns:
        raise PrecimedInputError(f"column '{args.id_column}' is not in {Path(args.file).name}",
                                 expected="the name of the identifier column")
    if not 0 <= args.row < len(raw):
        raise PrecimedInputError(f"row {args.row} does not exist",
                                 expected=f"a row between 0 and {len(raw) - 1}")
    table = load_tabular(bundle, args.file)
    if args.row not in table.valid_rows:
        raise PrecimedInputError(f"row {args.row} cannot be scored: {table.row_errors()[args.row]}",
                                 expected="a row with valid values")
    identifier = str(raw.iloc[args.row][column]) if column else f"{Path(args.file).name}#{args.row}"
    data = report_for_row(bundle, table, args.row, identifier=identifier, fmt=fmt,
                          class_name=args.class_name)
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        raise PrecimedInputError(f"cannot write {out} ({exc.strerror})",
                                 expected="a writable path") from None
    return {"out": str(out), "format": fmt, "bytes": len(data), "row": args.row,
            "pseudonym": pseudonymise(identifier), "model": bundle.id, "version": bundle.version}


def _text(r: dict[str, Any]) -> str:
    return f"wrote {r['format'].upper()} report for {r['pseudonym']} (row {r['row']}) to {r['out']}"
