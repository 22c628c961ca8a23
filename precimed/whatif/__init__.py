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
    encode_rows,
    parse_assignments,
    parse_value,
    plausible_range,
    range_flag,
    resolve_feature,
    row_values,
    rows_frame,
)
from precimed.whatif.occlusion import (
    Box,
    OcclusionMap,
    OcclusionResult,
    grid_box,
    occlude,
    occlude_image,
    occlusion_map,
    occlusion_map_input,
)
from precimed.whatif.scenarios import Scenario, check_name, compare_scenarios

__all__ = [
    "COUNTERFACTUAL_METHOD", "Box", "Counterfactual", "CounterfactualSet", "EditFlag", "EditedRow",
    "IceCurve", "OcclusionMap", "OcclusionResult", "PartialDependence", "RowState", "Scenario",
    "WhatIf", "apply_edits", "check_name", "compare_scenarios", "encode_rows", "evaluate_edited",
    "evaluate_edits", "evaluate_rows", "feature_grid", "find_counterfactuals", "grid_box",
    "ice_curve", "occlude", "occlude_image", "occlusion_map", "occlusion_map_input",
    "parse_assignments", "parse_value", "partial_dependence", "plausible_range", "range_flag",
    "resolve_feature", "row_values", "rows_frame", "sweep",
]
