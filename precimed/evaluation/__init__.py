"""Honest evaluation of a model for its card: everything from out-of-fold predictions.

- :mod:`.bootstrap`: CIs over patients and CV repeats (training variability);
- :mod:`.calibration`: calibration intercept and slope, and the "calibrated" wording rule;
- :mod:`.baselines`: logistic regression and random forest on the same folds, plain verdicts;
- :mod:`.subgroups`: AUROC and calibration-in-the-large per factor level, the weaker rule;
- :mod:`.caveats`: the lines shown beside a prediction for a row in a weaker subgroup;
- :mod:`.survival` / :mod:`.survival_card`: Kaplan–Meier, Cox, sensitivity/specificity;
- :mod:`.pipeline`: ``evaluate_tabular``, the one entry point the trainers call.

Only :mod:`.caveats` is needed at run time (pages, CLI); the rest runs in ``make models``.
"""

from precimed.evaluation.caveats import subgroup_caveats, weaker_subgroups

__all__ = ["subgroup_caveats", "weaker_subgroups"]
