"""What-if analysis: edit a row within the card's limits and see the prediction and SHAP move,
ICE/PDP curves, counterfactuals, named scenarios, and occlusion for image models.

Pure functions, no Streamlit; TensorFlow and SHAP load on first use.

Example:
    >>> from precimed.whatif import evaluate_edits, find_counterfactuals  # doctest: +SKIP
"""

from __future__ import annotations

from precimed.whatif.analysis import (
    RowState,
    WhatIf,
    evaluate_edited,
    evaluate_edits,
    evaluate_rows,
)
from precimed.whatif.counterfactual import (
    METHOD as COUNTERFACTUAL_METHOD,
)
from precimed.whatif.counterfactual import (
    Counterfactual,
    CounterfactualSet,
    find_counterfactuals,
)
from precimed.whatif.curves import (
    IceCurve,
    PartialDependence,
    feature_grid,
    ice_curve,
    partial_dependence,
    sweep,
)
from precimed.whatif.edits import (
    EditedRow,
    EditFlag,
    apply_edits,
    parse_assignments,
    parse_value,
    plausible_range,
    range_flag,
    resolve_feature,
    row_values,
    rows_frame,
)
from precimed.whatif.scenarios import Scenario, check_name, compare_scenarios

__all__ = [
    "COUNTERFACTUAL_METHOD", "Counterfactual", "CounterfactualSet", "EditFlag", "EditedRow",
    "IceCurve", "PartialDependence", "RowState", "Scenario", "WhatIf", "apply_edits",
    "check_name", "compare_scenarios", "evaluate_edited", "evaluate_edits", "evaluate_rows",
    "feature_grid", "find_counterfactuals", "ice_curve", "parse_assignments", "parse_value",
    "partial_dependence", "plausible_range", "range_flag", "resolve_feature", "row_values",
    "rows_frame", "sweep",
]
