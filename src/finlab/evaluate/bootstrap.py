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
        weights[:, neg] = rng.multinomial(neg.size, np.full(neg.size, 1 / neg.size),
                                          size=resamples)
    if pos.size:
        case = targets.case_id.reindex(targets.y.index[pos]).to_numpy()
        codes, uniques = pd.factorize(case)
        draws = rng.multinomial(uniques.size, np.full(uniques.size, 1 / uniques.size),
                                size=resamples)
        weights[:, pos] = draws[:, codes]
    return weights


def weighted_metrics(y: np.ndarray, score: np.ndarray, weights: np.ndarray, threshold: float,
                     budget: int, ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per resample (row of `weights`): average precision (as scikit-learn computes it, ties
    taken together), F1 at `threshold` and recall within the `budget` highest-scored accounts
    of the resample (ties broken by id, as the alert budget does)."""
    ids = np.arange(score.size) if ids is None else ids
    order = np.lexsort((ids, -score))
    s, yy, w = score[order], y[order].astype(bool), weights[:, order]
    tp = np.cumsum(w * yy, axis=1, dtype=np.float64)
    seen = np.cumsum(w, axis=1, dtype=np.float64)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]  # end of each tie group
    tp_t, seen_t = tp[:, last], seen[:, last]
    positives = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(seen_t > 0, tp_t / seen_t, 1.0)
        recall = tp_t / positives
        gain = np.diff(np.c_[np.zeros((w.shape[0], 1)), recall], axis=1)
        ap = np.sum(gain * precision, axis=1)
        flagged = s >= threshold
        tp_f = (w * (yy & flagged)).sum(axis=1, dtype=np.float64)
        pred = (w * flagged).sum(axis=1, dtype=np.float64)
        f1 = np.where(pred + positives[:, 0] > 0, 2 * tp_f / (pred + positives[:, 0]), 0.0)
        # the budget counts reviewed accounts, drawn copies included, in ranking order
        fits = (seen <= budget).sum(axis=1) - 1
        tp_b = np.where(fits >= 0, tp[np.arange(w.shape[0]), np.maximum(fits, 0)], 0.0)
        at_budget = tp_b / positives[:, 0]
    none = positives[:, 0] == 0
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
