"""Fixtures of the cohort tests: the genomic bundle, the tiny three-class bundle (trained once
per session) and a cohort table with invalid rows, labels and a subgroup column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cohort_data import cohort_frame, tiny_bundle_module

from precimed.registry import Bundle, get_bundle, read_bundle

GENOMIC = "breast-metastasis-gse7390"


@pytest.fixture(scope="session")
def genomic() -> Bundle:
    return get_bundle(GENOMIC)


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cohort_tiny_models")
    tiny_bundle_module().build(root)
    return root


@pytest.fixture(scope="session")
def tiny(tiny_models_dir: Path) -> Bundle:
    return read_bundle(tiny_models_dir / tiny_bundle_module().MODEL_ID)


@pytest.fixture(scope="session")
def genomic_cohort(genomic: Bundle) -> pd.DataFrame:
    """48 rows; rows 3 and 7 invalid; rows 10-17 (one whole chunk of 8) invalid."""
    frame = cohort_frame(genomic, 48, seed=1)
    frame.loc[3, "size"] = "huge"
    frame.loc[7, "er"] = "maybe"
    frame.loc[10:17, "age"] = "old"
    frame.loc[20, "size"] = ""  # imputed and flagged, still scored
    return frame
