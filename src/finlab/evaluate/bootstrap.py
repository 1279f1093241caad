"""95% bootstrap intervals for account-level average precision, F1 and recall at budget.

Positives are resampled by case (a network's accounts come and go together, as they are not
independent) and negatives by account. A resample is a vector of multiplicities, drawn once per
set of targets and shared by every detector, so intervals of different detectors on one period
are paired. All resamples are evaluated at once on a (resamples x accounts) weight matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd

from finlab.rng import generator
from finlab.truth import Targets

METRICS = ("average_precision", "f1", "recall_at_budget")


def resample_weights(targets: Targets, resamples: int, seed: int) -> np.ndarray:
    """(resamples x accounts) multiplicities aligned with targets.y: positives drawn case by case
    (every account of a drawn case counts once per draw), negatives account by account."""
    y = targets.y.to_numpy()
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    rng = generator(seed, "bootstrap")
    weights = np.zeros((resamples, y.size), np.float32)
    if neg.size:
        weights[:, neg] = draw_counts(rng, neg.size, resamples)
    if pos.size:
        case = targets.case_id.reindex(targets.y.index[pos]).to_numpy()
        codes, uniques = pd.factorize(case)
        weights[:, pos] = draw_counts(rng, uniques.size, resamples)[:, codes]
    return weights


def draw_counts(rng, n: int, resamples: int) -> np.ndarray:
    """(resamples x n) times each of n items is drawn in n draws with replacement."""
    rows = np.repeat(np.arange(resamples, dtype=np.int64) * n, n)
    picks = rng.integers(0, n, resamples * n) + rows
    return np.bincount(picks, minlength=resamples * n).reshape(resamples, n).astype(np.float32)


def weighted_metrics(y: np.ndarray, score: np.ndarray, weights: np.ndarray, threshold: float,
                     budget: int, ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per resample (row of `weights`): average precision (as scikit-learn computes it, ties
    taken together), F1 at `threshold` and recall within the `budget` highest-scored accounts
    of the resample (ties broken by id, as the alert budget does).

    Only two passes touch every account (ranking the weights and their running sum); the rest
    reads that sum at the positives' places, so 200 resamples of 100,000 accounts take a
    fraction of a second."""
    ids = np.arange(score.size) if ids is None else ids
    order = np.lexsort((ids, -score))
    s, yy = score[order], y[order].astype(bool)
    seen = np.cumsum(weights[:, order], axis=1, dtype=np.float32)  # accounts reviewed so far
    at = np.flatnonzero(yy)  # positives' places in the ranking
    rows = np.arange(weights.shape[0])
    if at.size == 0:
        nan = np.full(weights.shape[0], np.nan)
        return {"average_precision": nan, "f1": nan, "recall_at_budget": nan}
    tp = np.cumsum(weights[:, order[at]], axis=1, dtype=np.float64)  # positives found so far
    positives = tp[:, -1]
    # average precision: one step per tie group holding a positive, read at the group's end
    group_end = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    ends = np.unique(group_end[np.searchsorted(group_end, at)])
    found = np.searchsorted(at, ends, side="right") - 1  # last positive up to each end
    tp_end, seen_end = tp[:, found], seen[:, ends].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(seen_end > 0, tp_end / seen_end, 1.0)
        gain = np.diff(np.c_[np.zeros(len(rows)), tp_end], axis=1) / positives[:, None]
        ap = np.sum(gain * precision, axis=1)
        # F1 at the threshold: the flagged accounts are a prefix of the ranking
        k = int(np.searchsorted(-s, -threshold, side="right"))
        pred = seen[:, k - 1].astype(np.float64) if k else np.zeros(len(rows))
        kp = int(np.searchsorted(at, k))  # positives within the prefix
        tp_f = tp[:, kp - 1] if kp else np.zeros(len(rows))
        f1 = np.where(pred + positives > 0, 2 * tp_f / (pred + positives), 0.0)
        # recall at budget: the longest prefix of the resample that fits the budget
        fits = np.array([np.searchsorted(seen[r], budget, side="right") for r in rows])
        fp = np.searchsorted(at, fits)  # positives within it
        tp_b = np.where(fp > 0, tp[rows, np.maximum(fp - 1, 0)], 0.0)
        at_budget = tp_b / positives
    none = positives == 0
    ap[none], f1[none], at_budget[none] = np.nan, np.nan, np.nan
    return {"average_precision": ap, "f1": f1, "recall_at_budget": at_budget}


def intervals(scores: pd.Series, targets: Targets, weights: np.ndarray, threshold: float,
              budget: int, level: float = 0.95) -> dict[str, list[float] | None]:
    """[low, high] of each metric over the resamples (None when undefined)."""
    y = targets.y
    s = scores.reindex(y.index).fillna(scores.min() if len(scores) else 0.0)
    thr = threshold if np.isfinite(threshold) else np.inf
    values = weighted_metrics(y.to_numpy(), s.to_numpy(np.float64), weights, thr, budget,
                              y.index.to_numpy())
    tail = (1 - level) / 2 * 100
    out = {}
    for name in METRICS:
        v = values[name][np.isfinite(values[name])]
        out[name] = [float(x) for x in np.percentile(v, [tail, 100 - tail])] if v.size else None
    return out
