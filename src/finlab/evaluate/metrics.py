"""Metrics of one detector on one period: ranking quality (average precision, ROC AUC), F1 at a
threshold chosen on validation, precision and recall within an alert budget, recall per
typology, false positives per look-alike class, and days to detection."""

from __future__ import annotations

import numpy as np
import pandas as pd

from finlab.evaluate.splits import Targets


def best_f1_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """The score threshold with the highest F1 (chosen on validation, applied to test)."""
    from sklearn.metrics import precision_recall_curve

    if y.sum() == 0:
        return float(np.inf)
    precision, recall, thresholds = precision_recall_curve(y, score)
    f1 = np.divide(2 * precision * recall, precision + recall,
                   out=np.zeros_like(precision), where=(precision + recall) > 0)[:-1]
    return float(thresholds[int(np.argmax(f1))])


def top_k(scores: pd.Series, k: int) -> pd.Index:
    """The k highest-scored ids; ties broken by id so the choice is repeatable."""
    frame = pd.DataFrame({"score": scores.to_numpy(), "id": scores.index.to_numpy()})
    order = frame.sort_values(["score", "id"], ascending=[False, True], kind="stable")
    return pd.Index(order["id"].to_numpy()[:k])


def account_metrics(scores: pd.Series, targets: Targets, threshold: float, budget: int,
                    detected_at: pd.Series | None = None) -> dict:
    """Account-level metrics on the accounts of `targets` (left-out accounts excluded)."""
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    y = targets.y
    s = scores.reindex(y.index).fillna(scores.min() if len(scores) else 0.0)
    yv, sv = y.to_numpy(), s.to_numpy(np.float64)
    both = 0 < yv.sum() < yv.size
    alerted = top_k(s, budget)
    hit = y.index.isin(alerted)
    positives = y.index[yv == 1]
    by_typology = {
        t: float(positives[targets.typology.reindex(positives).to_numpy() == t].isin(alerted).mean())
        for t in sorted(targets.typology.unique())
    }
    decoy_rate = {c: float(ids.isin(alerted).mean())
                  for c, ids in ((c, targets.decoy.index[targets.decoy == c])
                                 for c in sorted(targets.decoy.unique()))}
    return {
        "average_precision": float(average_precision_score(yv, sv)) if both else None,
        "roc_auc": float(roc_auc_score(yv, sv)) if both else None,
        "f1": float(f1_score(yv, sv >= threshold, zero_division=0)) if both else None,
        "threshold": threshold if np.isfinite(threshold) else None,
        "precision_at_budget": float(yv[hit].mean()) if hit.any() else None,
        "recall_at_budget": float(hit[yv == 1].mean()) if yv.sum() else None,
        "by_typology": by_typology,
        "decoy_false_positive_rate": decoy_rate,
        "median_days_to_detection": median_days(detected_at, targets.first_seen),
        "positives": int(yv.sum()),
        "negatives": int(yv.size - yv.sum()),
    }


def case_metrics(scores: pd.Series, targets: Targets, budget: int,
                 detected_at: pd.Series | None = None) -> dict:
    """Case level: a case is found when any of its accounts is within the alert budget. Ranking
    metrics need negative cases, which do not exist, so they are null."""
    alerted = top_k(scores.reindex(targets.y.index).fillna(scores.min()), budget)
    case_of = targets.case_id
    found = case_of[case_of.index.isin(alerted)].unique()
    cases = pd.Series(case_of.unique())
    typology = targets.typology.groupby(case_of).first()
    first_seen = targets.first_seen.groupby(case_of).min()
    case_detected = None
    if detected_at is not None:
        case_detected = detected_at.reindex(case_of.index).groupby(case_of.to_numpy()).min()
    return {
        "average_precision": None, "roc_auc": None, "f1": None, "threshold": None,
        "precision_at_budget": None,
        "recall_at_budget": float(cases.isin(found).mean()) if len(cases) else None,
        "by_typology": {t: float(pd.Index(ids).isin(found).mean())
                        for t, ids in typology.groupby(typology).groups.items()},
        "decoy_false_positive_rate": {},
        "median_days_to_detection": median_days(case_detected, first_seen),
        "positives": len(cases), "negatives": 0,
    }


def median_days(detected_at: pd.Series | None, first_seen: pd.Series) -> float | None:
    """Median days from the first suspicious payment in the period to the first checkpoint that
    alerted on it, over those detected."""
    if detected_at is None:
        return None
    when = pd.to_datetime(detected_at.reindex(first_seen.index).dropna(), utc=True)
    if when.empty:
        return None
    seen = pd.to_datetime(first_seen.reindex(when.index), utc=True)
    days = (when - seen).dt.total_seconds() / 86_400
    return float(np.median(np.maximum(days.to_numpy(), 0.0)))
