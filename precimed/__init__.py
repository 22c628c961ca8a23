"""PreciMed engine: load, validate, predict, explain — no Streamlit here.

The public API is re-exported here; importing it does not import TensorFlow or SHAP (they load
on first prediction or explanation).

Example:
    >>> import precimed
    >>> bundle = precimed.get_bundle("breast-cytology-wdbc")  # doctest: +SKIP
    >>> table = precimed.validate_table(precimed.read_table("patients.csv"), bundle.card)  # doctest: +SKIP
    >>> precimed.predict_table(bundle, table)[0].prediction  # doctest: +SKIP
    'malignant'
"""

from __future__ import annotations

from precimed.errors import BundleError, DicomInputError, PrecimedInputError
from precimed.explain.base import Explanation
from precimed.explain.tabular import explain_matrix, explain_rows
from precimed.predict import RowPrediction, predict_proba, predict_table
from precimed.registry import Bundle, get_bundle, list_bundles
from precimed.tabular.io import read_table
from precimed.tabular.validate import ValidatedTable, encode, validate_table

__version__ = "0.1.0"

__all__ = [
    "Bundle", "BundleError", "DicomInputError", "Explanation", "PrecimedInputError",
    "RowPrediction", "ValidatedTable", "encode", "explain_matrix", "explain_rows", "get_bundle",
    "list_bundles", "predict_proba", "predict_table", "read_table", "validate_table",
]
