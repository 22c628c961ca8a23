"""Helpers shared by the commands: loading a table or a model for a command."""

from __future__ import annotations

import sys
from pathlib import Path

from precimed.errors import PrecimedInputError
from precimed.registry import Bundle, get_bundle
from precimed.tabular.io import read_table
from precimed.tabular.validate import ValidatedTable, validate_table


def load_tabular(bundle: Bundle, path: str) -> ValidatedTable:
    """Read and validate ``path`` for a tabular bundle; notes and flagged cells go to stderr."""
    table = validate_table(read_table(Path(path)), bundle.card)
    for note in table.notes:
        print(f"note: {note}", file=sys.stderr)
    for issue in table.issues:
        print(f"warning: row {issue.row}: {issue.message}", file=sys.stderr)
    return table


def require_modality(bundle: Bundle, modality: str) -> None:
    if bundle.modality != modality:
        raise PrecimedInputError(f"model '{bundle.id}' takes {bundle.modality} input",
                                 expected=f"a {modality} model")


def bundle_arg(model_id: str) -> Bundle:
    return get_bundle(model_id)
