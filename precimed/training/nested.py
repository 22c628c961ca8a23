"""Nested cross-validation of recalibrated MLP ensembles (hyperparameters and recalibration
chosen inside each outer training set; figures from the outer test folds only).

Protocol, for every outer training set T (and, last, for all rows, which gives the shipped model):
1. an inner stratified K-fold split of T; for every grid point, one member per inner fold is
   trained on the other inner folds, giving inner out-of-fold logits for every row of T;
2. the grid point with the lowest inner out-of-fold log loss *after* recalibration is chosen
   (the selection metric; ties → earlier grid point, listed from most to least regularised);
3. the recalibration is fitted on those inner out-of-fold logits: Platt scaling
   ``sigmoid(a + b·logit)`` for a binary model, multinomial logistic recalibration
   ``softmax(W·logits + c)`` (scikit-learn's unpenalised ``LogisticRegression`` on the class
   logits, "matrix scaling") for a multiclass one;
4. the model for T is the mean logit(s) of its inner fold members (a bagged ensemble of the
   fold models), recalibrated as fitted in 3. The outer test fold is touched only to score it.

Binary predictions are P(positive), shaped (rows,); multiclass ones (rows, classes).

All members of one grid point, for all outer folds, train at once (:mod:`precimed.training.ensemble`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from precimed.training import recalibrate
from precimed.training.ensemble import MemberConfig, Members, logit, platt, sigmoid, train_members

ISOTONIC, TEMPERATURE = "isotonic", "temperature"


@dataclass
class Plan:
    """Outer splits, their inner splits, and the member index of every (block, inner fold)."""

    outer: list[tuple[np.ndarray, np.ndarray]]
    inner: list[list[tuple[np.ndarray, np.ndarray]]]  # per block (outer folds + the final block)
    masks: np.ndarray  # (n, S)
    blocks: np.ndarray  # (n, S): the rows of each member's block (outer training set, or all)
    replicas: int = 1  # members per (block, inner fold), differing only in their initial weights

    def member(self, block: int, fold: int) -> int:
        return (block * len(self.inner[0]) + fold) * self.replicas

    def fold_members(self, block: int, fold: int) -> list[int]:
        """The members trained on the (block, inner fold)'s rows: their mean logit is that
        fold's model (several seeds average out the initialisation's noise)."""
        first = self.member(block, fold)
        return list(range(first, first + self.replicas))

    def full_member(self, block: int) -> int:
        """The member trained on all rows of the block (the unbagged alternative)."""
        return len(self.inner) * len(self.inner[0]) * self.replicas + block


def make_plan(y: np.ndarray, *, folds: int, repeats: int, inner_folds: int, seed: int,
              replicas: int = 1) -> Plan:
    from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

    n = len(y)
    outer = list(RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats,
                                         random_state=seed).split(np.zeros(n), y))
    blocks = [tr for tr, _ in outer] + [np.arange(n)]  # the last block: all rows (shipped model)
    inner: list[list[tuple[np.ndarray, np.ndarray]]] = []
    masks = []
    block_masks = []
    for k, rows in enumerate(blocks):
        skf = StratifiedKFold(n_splits=inner_folds, shuffle=True, random_state=seed + 1 + k)
        splits = [(rows[a], rows[b]) for a, b in skf.split(np.zeros(len(rows)), y[rows])]
        inner.append(splits)
        for itr, _ in splits:
            m = np.zeros(n)
            m[itr] = 1.0
            bm = np.zeros(n)
            bm[rows] = 1.0
            for _ in range(replicas):
                masks.append(m)
                block_masks.append(bm)
    for rows in blocks:
        m = np.zeros(n)
        m[rows] = 1.0
        masks.append(m)
        block_masks.append(m)
    return Plan(outer=outer, inner=inner, masks=np.stack(masks, axis=1),
                blocks=np.stack(block_masks, axis=1), replicas=replicas)


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    if p.ndim == 2:  # multiclass: mean negative log-probability of the true class
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@dataclass
class BlockFit:
    """One grid point on one block: the recalibration fitted on its inner out-of-fold logits and
    the selection score. Binary: Platt (a, b); multiclass: one affine map per method of
    :mod:`precimed.training.recalibrate`, ``method`` the shipped one."""

    a: float
    b: float
    score: float
    inner_auroc: float
    isotonic: Any = None  # binary: isotonic regression, the rejected alternative to Platt
    affine: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # multiclass
    method: str = ""  # multiclass: the shipped recalibration

    def apply(self, lg: np.ndarray, method: str | None = None) -> np.ndarray:
        """Recalibrated probabilities of logits (n,) → (n,) or (n, K) → (n, K)."""
        if not self.affine:
            return sigmoid(self.a + self.b * lg)
        return recalibrate.apply(lg, self.affine[method or self.method])

    def alternative(self, lg: np.ndarray) -> np.ndarray:
        """The rejected alternative recalibration (isotonic / temperature), for the record."""
        if not self.affine:
            return np.asarray(self.isotonic.predict(lg))
        return recalibrate.apply(lg, self.affine[TEMPERATURE])


def raw(lg: np.ndarray) -> np.ndarray:
    """Probabilities without recalibration."""
    return sigmoid(lg) if lg.ndim == 1 else recalibrate.softmax(lg)


def fit_block(members: Members, plan: Plan, block: int, x: np.ndarray, y: np.ndarray,
              method: str = "matrix") -> BlockFit:
    from sklearn.metrics import roc_auc_score

    rows = np.concatenate([te for _, te in plan.inner[block]])
    lg = np.concatenate([members.logits(x[te], plan.fold_members(block, f)).mean(axis=1)
                         for f, (_, te) in enumerate(plan.inner[block])])
    if lg.ndim == 2:
        from precimed.evaluation.bootstrap import macro_auroc

        affine = {m: recalibrate.fit(lg, y[rows], m) for m in recalibrate.METHODS}
        fit = BlockFit(a=0.0, b=1.0, score=0.0, inner_auroc=macro_auroc(y[rows], raw(lg)),
                       affine=affine, method=method)
        fit.score = log_loss(y[rows], fit.apply(lg))
        return fit
    from sklearn.isotonic import IsotonicRegression

    a, b = platt(lg, y[rows])
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(lg, y[rows])
    return BlockFit(a=a, b=b, score=log_loss(y[rows], sigmoid(a + b * lg)),
                    inner_auroc=float(roc_auc_score(y[rows], lg)), isotonic=iso)


def block_logit(members: Members, plan: Plan, block: int, x: np.ndarray) -> np.ndarray:
    """The block's bagged model: mean logit(s) of its inner members."""
    idx = [m for f in range(len(plan.inner[block])) for m in plan.fold_members(block, f)]
    return np.asarray(members.logits(x, idx).mean(axis=1))


@dataclass
class NestedResult:
    probs: np.ndarray  # outer out-of-fold P, averaged over repeats: (n,) or (n, K)
    per_repeat: np.ndarray  # (repeats, n[, K]): each row's outer out-of-fold P from one model
    folds: np.ndarray  # (repeats, n): the outer test fold of each row in each repeat
    extra: np.ndarray | None  # (repeats, m[, K]): rows never trained on, mean over a repeat's folds
    variants: dict[str, np.ndarray]  # (repeats, n[, K]) per variant, at the inner-chosen grid points
    raw_probs: np.ndarray  # the same without recalibration
    chosen: list[str]  # grid point chosen per outer fold
    per_point: dict[str, dict[str, np.ndarray]]  # every grid point's outer OOF (for the record)
    final_point: str
    final_members: Members
    final_idx: list[int]
    final_ab: tuple[float, float]  # binary: Platt (a, b)
    grid: list[str] = field(default_factory=list)
    final_fit: BlockFit | None = None  # the shipped recalibration (multiclass: w, c)


VARIANTS = ("bagged, Platt (shipped)", "bagged, no recalibration", "bagged, isotonic",
            "one network on the whole training set, Platt", "one network, no recalibration")


def multiclass_variants(shipped: str) -> tuple[str, ...]:
    """Variant names, in the order of :data:`VARIANTS`: shipped, unrecalibrated, the
    alternative (temperature), the unbagged ones; then every other recalibration method."""
    others = [m for m in recalibrate.METHODS if m not in (shipped, TEMPERATURE)]
    return (f"bagged, {shipped} recalibration (shipped)", "bagged, no recalibration",
            "bagged, temperature recalibration",
            f"one network on the whole training set, {shipped} recalibration",
            "one network, no recalibration", *(f"bagged, {m} recalibration" for m in others))


def point_name(cfg: MemberConfig, epochs: int) -> str:
    name = f"hidden={cfg.hidden}, l2={cfg.l2:g}, dropout={cfg.dropout:g}, epochs={epochs}"
    if cfg.squash:
        name += ", tanh squash"
    if cfg.balanced:
        name += ", class-weighted"
    if cfg.input_dropout:
        name += f", input dropout {cfg.input_dropout:g}"
    return name


def nested_cv(x: np.ndarray, y: np.ndarray, grid: list[MemberConfig], *, folds: int = 5,
              repeats: int = 5, inner_folds: int = 5, seed: int = 0, n_classes: int = 2,
              recalibration: str = "matrix", replicas: int = 1,
              extra_x: np.ndarray | None = None, log: Any = None) -> NestedResult:
    """Run the protocol in the module docstring; ``grid`` from most to least regularised."""
    plan = make_plan(y, folds=folds, repeats=repeats, inner_folds=inner_folds, seed=seed,
                     replicas=replicas)
    n_blocks = len(plan.outer) + 1
    fits: dict[str, list[BlockFit]] = {}
    test_logits: dict[str, list[np.ndarray]] = {}
    weights: dict[str, Members] = {}
    single: dict[str, list[np.ndarray]] = {}
    extra_logits: dict[str, list[np.ndarray]] = {}
    names: list[str] = []
    for g, cfg in enumerate(grid):
        snaps = train_members(x, y, plan.masks, cfg, seed + 1000 * g, n_classes=n_classes,
                              scale_masks=plan.blocks if cfg.squash else None)
        for epochs, members in snaps.items():
            name = point_name(cfg, epochs)
            names.append(name)
            weights[name] = members
            fits[name] = [fit_block(members, plan, k, x, y, recalibration) for k in range(n_blocks)]
            test_logits[name] = [block_logit(members, plan, k, x[te]) for k, (_, te) in enumerate(plan.outer)]
            if extra_x is not None:
                extra_logits[name] = [block_logit(members, plan, k, extra_x) for k in range(len(plan.outer))]
            single[name] = [members.logits(x[te], [plan.full_member(k)])[:, 0]
                            for k, (_, te) in enumerate(plan.outer)]
            if log:
                log(f"{name}: mean inner score {np.mean([f.score for f in fits[name]]):.4f}")
    n = len(y)
    tail: tuple[int, ...] = () if n_classes == 2 else (n_classes,)
    alt = ISOTONIC if n_classes == 2 else TEMPERATURE
    probs = np.zeros((n, *tail))
    raw_p = np.zeros((n, *tail))
    per_point = {nm: {v: np.zeros((n, *tail)) for v in ("recalibrated", "raw", "single", "single_raw", alt)}
                 for nm in names}
    chosen: list[str] = []
    per_repeat = np.zeros((repeats, n, *tail))
    fold_of = np.zeros((repeats, n), dtype="int64")
    names_v = VARIANTS if n_classes == 2 else multiclass_variants(recalibration)
    variants = {v: np.zeros((repeats, n, *tail)) for v in names_v}
    extra = None if extra_x is None else np.zeros((repeats, len(extra_x), *tail))
    for k, (_, te) in enumerate(plan.outer):
        for nm in names:
            f = fits[nm][k]
            per_point[nm]["recalibrated"][te] += f.apply(test_logits[nm][k]) / repeats
            per_point[nm]["raw"][te] += raw(test_logits[nm][k]) / repeats
            per_point[nm]["single"][te] += f.apply(single[nm][k]) / repeats
            per_point[nm]["single_raw"][te] += raw(single[nm][k]) / repeats
            per_point[nm][alt][te] += f.alternative(test_logits[nm][k]) / repeats
        best = min(names, key=lambda nm: fits[nm][k].score)  # min keeps the first on ties
        chosen.append(best)
        f = fits[best][k]
        r, fold = divmod(k, folds)
        per_repeat[r, te] = f.apply(test_logits[best][k])
        fold_of[r, te] = fold
        variants[names_v[0]][r, te] = per_repeat[r, te]
        variants[names_v[1]][r, te] = raw(test_logits[best][k])
        variants[names_v[2]][r, te] = f.alternative(test_logits[best][k])
        variants[names_v[3]][r, te] = f.apply(single[best][k])
        variants[names_v[4]][r, te] = raw(single[best][k])
        if n_classes > 2:  # every other recalibration method, for the record
            others = [m for m in recalibrate.METHODS if m not in (recalibration, TEMPERATURE)]
            for v, m in zip(names_v[5:], others, strict=True):
                variants[v][r, te] = f.apply(test_logits[best][k], m)
        if extra is not None:
            extra[r] += f.apply(extra_logits[best][k]) / folds
        probs[te] += per_repeat[k // folds, te] / repeats
        raw_p[te] += raw(test_logits[best][k]) / repeats
    last = n_blocks - 1
    final = min(names, key=lambda nm: fits[nm][last].score)
    ff = fits[final][last]
    return NestedResult(probs=probs, per_repeat=per_repeat, folds=fold_of, extra=extra,
                        variants=variants, raw_probs=raw_p, chosen=chosen, per_point=per_point,
                        final_point=final, final_members=weights[final],
                        final_idx=[m for f in range(inner_folds) for m in plan.fold_members(last, f)],
                        final_ab=(ff.a, ff.b), grid=names, final_fit=ff)


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
