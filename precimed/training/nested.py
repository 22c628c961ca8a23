"""Nested cross-validation of recalibrated MLP ensembles (hyperparameters and Platt scaling
chosen inside each outer training set; figures from the outer test folds only).

Protocol, for every outer training set T (and, last, for all rows, which gives the shipped model):
1. an inner stratified K-fold split of T; for every grid point, one member per inner fold is
   trained on the other inner folds, giving inner out-of-fold logits for every row of T;
2. the grid point with the lowest inner out-of-fold log loss *after* Platt scaling is chosen
   (the selection metric; ties → earlier grid point, listed from most to least regularised);
3. Platt scaling ``sigmoid(a + b·logit)`` is fitted on those inner out-of-fold logits;
4. the model for T is the mean logit of the K inner members (a bagged ensemble of the fold
   models), recalibrated with (a, b). The outer test fold is touched only to score it.

All members of one grid point, for all outer folds, train at once (:mod:`precimed.training.ensemble`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from precimed.training.ensemble import MemberConfig, Members, logit, platt, sigmoid, train_members


@dataclass
class Plan:
    """Outer splits, their inner splits, and the member index of every (block, inner fold)."""

    outer: list[tuple[np.ndarray, np.ndarray]]
    inner: list[list[tuple[np.ndarray, np.ndarray]]]  # per block (outer folds + the final block)
    masks: np.ndarray  # (n, S)

    def member(self, block: int, fold: int) -> int:
        return block * len(self.inner[0]) + fold

    def full_member(self, block: int) -> int:
        """The member trained on all rows of the block (the unbagged alternative)."""
        return len(self.inner) * len(self.inner[0]) + block


def make_plan(y: np.ndarray, *, folds: int, repeats: int, inner_folds: int, seed: int) -> Plan:
    from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

    n = len(y)
    outer = list(RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats,
                                         random_state=seed).split(np.zeros(n), y))
    blocks = [tr for tr, _ in outer] + [np.arange(n)]  # the last block: all rows (shipped model)
    inner: list[list[tuple[np.ndarray, np.ndarray]]] = []
    masks = []
    for k, rows in enumerate(blocks):
        skf = StratifiedKFold(n_splits=inner_folds, shuffle=True, random_state=seed + 1 + k)
        splits = [(rows[a], rows[b]) for a, b in skf.split(np.zeros(len(rows)), y[rows])]
        inner.append(splits)
        for itr, _ in splits:
            m = np.zeros(n)
            m[itr] = 1.0
            masks.append(m)
    for rows in blocks:
        m = np.zeros(n)
        m[rows] = 1.0
        masks.append(m)
    return Plan(outer=outer, inner=inner, masks=np.stack(masks, axis=1))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@dataclass
class BlockFit:
    """One grid point on one block: inner out-of-fold logits, Platt (a, b), selection score."""

    a: float
    b: float
    score: float
    inner_auroc: float
    isotonic: Any = None  # the rejected alternative to Platt, kept for the record


def fit_block(members: Members, plan: Plan, block: int, x: np.ndarray, y: np.ndarray) -> BlockFit:
    from sklearn.metrics import roc_auc_score

    rows = np.concatenate([te for _, te in plan.inner[block]])
    lg = np.concatenate([members.logits(x[te], [plan.member(block, f)])[:, 0]
                         for f, (_, te) in enumerate(plan.inner[block])])
    from sklearn.isotonic import IsotonicRegression

    a, b = platt(lg, y[rows])
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(lg, y[rows])
    return BlockFit(a=a, b=b, score=log_loss(y[rows], sigmoid(a + b * lg)),
                    inner_auroc=float(roc_auc_score(y[rows], lg)), isotonic=iso)


def block_logit(members: Members, plan: Plan, block: int, x: np.ndarray) -> np.ndarray:
    """The block's bagged model: mean logit of its inner members."""
    idx = [plan.member(block, f) for f in range(len(plan.inner[block]))]
    return np.asarray(members.logits(x, idx).mean(axis=1))


@dataclass
class NestedResult:
    probs: np.ndarray  # outer out-of-fold P(positive), averaged over repeats
    per_repeat: np.ndarray  # (repeats, n): each row's outer out-of-fold P from one model
    folds: np.ndarray  # (repeats, n): the outer test fold of each row in each repeat
    extra: np.ndarray | None  # (repeats, m): rows never trained on, mean over a repeat's folds
    variants: dict[str, np.ndarray]  # (repeats, n) per variant, at the inner-chosen grid points
    raw_probs: np.ndarray  # the same without recalibration
    chosen: list[str]  # grid point chosen per outer fold
    per_point: dict[str, dict[str, np.ndarray]]  # every grid point's outer OOF (for the record)
    final_point: str
    final_members: Members
    final_idx: list[int]
    final_ab: tuple[float, float]
    grid: list[str] = field(default_factory=list)


VARIANTS = ("bagged, Platt (shipped)", "bagged, no recalibration", "bagged, isotonic",
            "one network on the whole training set, Platt", "one network, no recalibration")


def point_name(cfg: MemberConfig, epochs: int) -> str:
    return f"hidden={cfg.hidden}, l2={cfg.l2:g}, dropout={cfg.dropout:g}, epochs={epochs}"


def nested_cv(x: np.ndarray, y: np.ndarray, grid: list[MemberConfig], *, folds: int = 5,
              repeats: int = 5, inner_folds: int = 5, seed: int = 0,
              extra_x: np.ndarray | None = None, log: Any = None) -> NestedResult:
    """Run the protocol in the module docstring; ``grid`` from most to least regularised."""
    plan = make_plan(y, folds=folds, repeats=repeats, inner_folds=inner_folds, seed=seed)
    n_blocks = len(plan.outer) + 1
    fits: dict[str, list[BlockFit]] = {}
    test_logits: dict[str, list[np.ndarray]] = {}
    weights: dict[str, Members] = {}
    single: dict[str, list[np.ndarray]] = {}
    extra_logits: dict[str, list[np.ndarray]] = {}
    names: list[str] = []
    for g, cfg in enumerate(grid):
        snaps = train_members(x, y, plan.masks, cfg, seed + 1000 * g)
        for epochs, members in snaps.items():
            name = point_name(cfg, epochs)
            names.append(name)
            weights[name] = members
            fits[name] = [fit_block(members, plan, k, x, y) for k in range(n_blocks)]
            test_logits[name] = [block_logit(members, plan, k, x[te]) for k, (_, te) in enumerate(plan.outer)]
            if extra_x is not None:
                extra_logits[name] = [block_logit(members, plan, k, extra_x) for k in range(len(plan.outer))]
            single[name] = [members.logits(x[te], [plan.full_member(k)])[:, 0]
                            for k, (_, te) in enumerate(plan.outer)]
            if log:
                log(f"{name}: mean inner score {np.mean([f.score for f in fits[name]]):.4f}")
    n = len(y)
    probs = np.zeros(n)
    raw = np.zeros(n)
    per_point = {nm: {v: np.zeros(n) for v in ("recalibrated", "raw", "single", "single_raw", "isotonic")}
                 for nm in names}
    chosen: list[str] = []
    per_repeat = np.zeros((repeats, n))
    fold_of = np.zeros((repeats, n), dtype="int64")
    variants = {v: np.zeros((repeats, n)) for v in VARIANTS}
    extra = None if extra_x is None else np.zeros((repeats, len(extra_x)))
    for k, (_, te) in enumerate(plan.outer):
        for nm in names:
            f = fits[nm][k]
            per_point[nm]["recalibrated"][te] += sigmoid(f.a + f.b * test_logits[nm][k]) / repeats
            per_point[nm]["raw"][te] += sigmoid(test_logits[nm][k]) / repeats
            per_point[nm]["single"][te] += sigmoid(f.a + f.b * single[nm][k]) / repeats
            per_point[nm]["single_raw"][te] += sigmoid(single[nm][k]) / repeats
            per_point[nm]["isotonic"][te] += f.isotonic.predict(test_logits[nm][k]) / repeats
        best = min(names, key=lambda nm: fits[nm][k].score)  # min keeps the first on ties
        chosen.append(best)
        f = fits[best][k]
        r, fold = divmod(k, folds)
        per_repeat[r, te] = sigmoid(f.a + f.b * test_logits[best][k])
        fold_of[r, te] = fold
        variants["bagged, Platt (shipped)"][r, te] = per_repeat[r, te]
        variants["bagged, no recalibration"][r, te] = sigmoid(test_logits[best][k])
        variants["bagged, isotonic"][r, te] = f.isotonic.predict(test_logits[best][k])
        variants["one network on the whole training set, Platt"][r, te] = sigmoid(f.a + f.b * single[best][k])
        variants["one network, no recalibration"][r, te] = sigmoid(single[best][k])
        if extra is not None:
            extra[r] += sigmoid(f.a + f.b * extra_logits[best][k]) / folds
        probs[te] += per_repeat[k // folds, te] / repeats
        raw[te] += sigmoid(test_logits[best][k]) / repeats
    last = n_blocks - 1
    final = min(names, key=lambda nm: fits[nm][last].score)
    ff = fits[final][last]
    return NestedResult(probs=probs, per_repeat=per_repeat, folds=fold_of, extra=extra,
                        variants=variants, raw_probs=raw, chosen=chosen, per_point=per_point,
                        final_point=final, final_members=weights[final],
                        final_idx=[plan.member(last, f) for f in range(inner_folds)],
                        final_ab=(ff.a, ff.b), grid=names)


def calibration_fit(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Calibration slope (logistic regression of y on logit p) and intercept (calibration in the
    large: the intercept with logit p as an offset), each with a Wald 95% CI."""
    lg = logit(p)
    a, b = platt(lg, y)
    q = sigmoid(a + b * lg)
    design = np.column_stack([np.ones_like(lg), lg])
    cov = np.linalg.inv(design.T @ (design * (q * (1 - q))[:, None]))
    se_b = float(np.sqrt(cov[1, 1]))
    # Intercept with offset: Newton on one parameter.
    c = 0.0
    for _ in range(50):
        r = sigmoid(c + lg)
        step = float(np.sum(y - r) / np.sum(r * (1 - r)))
        c += step
        if abs(step) < 1e-10:
            break
    r = sigmoid(c + lg)
    se_c = float(1 / np.sqrt(np.sum(r * (1 - r))))
    return {"slope": {"value": b, "ci95": [b - 1.96 * se_b, b + 1.96 * se_b]},
            "intercept": {"value": c, "ci95": [c - 1.96 * se_c, c + 1.96 * se_c]}}
