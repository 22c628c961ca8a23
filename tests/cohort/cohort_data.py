"""Test data for cohorts: the what-if tests' tiny three-class bundle builder and cohort tables
resampled from a bundle's background, with ids, labels and a subgroup column."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from precimed.registry import Bundle

ROOT = Path(__file__).resolve().parents[2]


def tiny_bundle_module():  # type: ignore[no-untyped-def]
    """``tests/whatif/tiny_bundle.py`` (no package: ``tests`` is shadowed in site-packages)."""
    if "tiny_bundle" in sys.modules:
        return sys.modules["tiny_bundle"]
    spec = importlib.util.spec_from_file_location("tiny_bundle", ROOT / "tests/whatif/tiny_bundle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tiny_bundle"] = module
    spec.loader.exec_module(module)
    return module


def cohort_frame(bundle: Bundle, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` rows resampled from the bundle's background (as text, like a CSV upload), with a
    patient id, a label drawn from the model's own probabilities and a 3-level subgroup."""
    from precimed.predict import predict_proba
    from precimed.tabular.validate import encode, validate_table

    rng = np.random.default_rng(seed)
    bg = bundle.background()
    frame = bg.iloc[rng.integers(0, len(bg), n)].reset_index(drop=True)
    probs = predict_proba(bundle, encode(validate_table(frame, bundle.card).frame, bundle.card))
    classes = bundle.classes
    labels = [classes[rng.choice(len(classes), p=p / p.sum())] for p in probs]
    out = frame.astype(str)
    out.insert(0, "patient_id", [f"MRN-{100000 + i}" for i in range(n)])
    out["outcome"] = labels
    out["site"] = rng.choice(["north", "south", "east"], n)
    return out
