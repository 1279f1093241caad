"""Payment-level metrics, as the published AML benchmarks report them: average precision,
minority-class F1 at the threshold chosen on validation, precision and recall within a budget
of payments, and recall per typology with lone laundering payments (a case of one payment)
reported apart. Any detector can be scored this way: an account-level detector ranks a payment
by the higher score of its two ends (see metrics.transaction_scores)."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: recall class of suspicious payments that make up a case on their own (or have none)
LONE = "lone payment"


def payment_classes(ds, txns: pd.DataFrame) -> pd.Series:
    """Per payment of `txns` (see metrics.period_transactions): its typology, LONE where its case
    holds no other payment, "" for payments that are not suspicious."""
    lt = ds.labels.transactions
    sus = lt[lt["is_suspicious"].astype(bool)]
    size = sus.groupby("case_id", observed=True)["txn_id"].transform("size")
    lone = sus["case_id"].isna().to_numpy() | (size.reindex(sus.index).fillna(1) <= 1).to_numpy()
    cls = pd.Series(np.where(lone, LONE, sus["typology"].astype(str).to_numpy()),
                    index=sus["txn_id"].to_numpy())
    out = cls.reindex(txns["txn_id"].to_numpy()).fillna("")
    return out.where(txns["is_suspicious"].to_numpy(bool), "").reset_index(drop=True)


def payment_cases(ds, txns: pd.DataFrame) -> np.ndarray:
    """Per payment of `txns`: its case id (object), None where it has none, for resampling
    suspicious payments case by case."""
    lt = ds.labels.transactions
    case = pd.Series(lt["case_id"].to_numpy(object), index=lt["txn_id"].to_numpy())
    return case.reindex(txns["txn_id"].to_numpy()).to_numpy(object)


def payment_metrics(score: np.ndarray, y: np.ndarray, classes: pd.Series, threshold: float,
                    budget: int, mode: str | None = None) -> dict:
    """Metrics of payment scores `score` against truth `y` (bool), with `threshold` chosen on
    validation payments and a review budget of `budget` payments (the top-scored ones)."""
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

    y = np.asarray(y, bool)
    score = np.asarray(score, np.float64)
    both = 0 < y.sum() < y.size
    flagged = score >= threshold if np.isfinite(threshold) else np.zeros(y.size, bool)
    k = min(int(budget), y.size)
    top = np.zeros(y.size, bool)
    if k:
        order = np.lexsort((np.arange(y.size), -score))  # ties: earlier row first
        top[order[:k]] = True
    cls = classes.to_numpy(object)
    return {
        "average_precision": float(average_precision_score(y, score)) if both else None,
        "f1": float(f1_score(y, flagged, zero_division=0)) if both else None,
        "precision": float(precision_score(y, flagged, zero_division=0)) if both else None,
        "recall": float(recall_score(y, flagged, zero_division=0)) if both else None,
        "threshold": float(threshold) if np.isfinite(threshold) else None,
        "budget": k,
        "precision_at_budget": float(y[top].mean()) if k else None,
        "recall_at_budget": float(top[y].mean()) if y.any() else None,
        "by_typology": _recall_per_class(flagged[y], cls[y]),
        "by_typology_at_budget": _recall_per_class(top[y], cls[y]),
        "lone_recall": _recall_per_class(flagged[y], cls[y]).get(LONE),
        "feature_mode": mode,
        "positives": int(y.sum()),
        "negatives": int(y.size - y.sum()),
    }


def _recall_per_class(hit: np.ndarray, cls: np.ndarray) -> dict:
    shares = pd.Series(hit).groupby(cls).mean().sort_index()
    return {str(c): float(v) for c, v in shares.items()}
