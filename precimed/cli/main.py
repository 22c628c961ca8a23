"""Entry point of the ``precimed`` command.

Contract (shared/CONVENTIONS.md): JSON only on stdout with ``--json``; logs on stderr; user
errors exit 2 with one ``error: …`` line and no traceback; exit 1 only for internal faults.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any, NoReturn

from precimed.errors import NothingScoredError, PrecimedInputError

# Each module defines ``register(subparsers)``, which adds its sub-command with
# ``set_defaults(handler=...)``; a handler takes the parsed args and returns the JSON-able result
# (printed with --json) or prints its own text and returns None.
COMMANDS: list[str] = [
    "precimed.cli.models_cmd",
    "precimed.cli.predict_cmd",
    "precimed.cli.explain_cmd",
    "precimed.cli.score_cmd",
    "precimed.cli.report_cmd",
    "precimed.cli.train_imaging_cmd",
    "precimed.cli.audit_cmd",
    "precimed.cli.import_model_cmd",
    "precimed.cli.counterfactual_cmd",
    "precimed.cli.deidentify_cmd",
    "precimed.cli.pacs_cmd",
]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``error:`` line, exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="precimed", description="PreciMed: predictions and explanations of "
                     "pretrained models on imaging and tabular data. Not for clinical use.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")


def emit(result: Any, as_json: bool, text: str | None = None) -> None:
    """Print ``result`` as JSON, or ``text`` (defaulting to indented JSON) for people."""
    if as_json or text is None:
        json.dump(result, sys.stdout, indent=None if as_json else 2, ensure_ascii=False, allow_nan=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except NothingScoredError as exc:  # the per-item reasons still go out, then exit 2
        emit(exc.rows, getattr(args, "json", False), getattr(args, "text", None) and args.text(exc.rows))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PrecimedInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if result is not None:
        emit(result, getattr(args, "json", False), getattr(args, "text", None) and args.text(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
