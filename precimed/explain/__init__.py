"""Explanations: a small backend interface and its implementations (shapash-style).

* :mod:`precimed.explain.tabular` — SHAP for tabular MLPs (DeepExplainer where the layers are
  supported, else the exact Permutation explainer).
"""

from __future__ import annotations

from precimed.explain.base import ExplainerBackend, Explanation

__all__ = ["Explanation", "ExplainerBackend"]
