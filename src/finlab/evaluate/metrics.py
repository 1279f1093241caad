"""Metrics of one detector on one period: ranking quality (average precision, ROC AUC), F1 at a
threshold chosen on validation, precision and recall within an alert budget, recall per
typology, false positives per look-alike class, and days to detection; per account, per case,
and per payment (an account-level detector ranks a payment by its payer's or payee's score,
whichever is higher)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from finlab.truth import Targets


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
    by_typology = _share_per_class(positives.isin(alerted), targets.typology.reindex(positives))
    decoy_rate = _share_per_class(targets.decoy.index.isin(alerted), targets.decoy)
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


def period_transactions(ds, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The payments with ts in [start, end) and their truth: txn_id, src_account, dst_account,
    is_suspicious (every typology; look-alikes and unlabelled payments are not) and typology
    ("" when unlabelled, "decoy:..." for look-alikes)."""
    from finlab.errors import InputError

    if ds.labels is None:
        raise InputError("evaluation needs a labelled dataset (labels/ directory)")
    tx = ds.transactions
    ts = tx["ts"]
    rows = tx.loc[((ts >= start) & (ts < end)).to_numpy(), ["txn_id", "src_account",
                                                           "dst_account"]]
    lt = ds.labels.transactions
    at = pd.Index(lt["txn_id"]).get_indexer(rows["txn_id"])
    known = at >= 0
    suspicious = np.zeros(len(rows), bool)
    suspicious[known] = lt["is_suspicious"].to_numpy(bool)[at[known]]
    labelled = lt["typology"].astype("category")  # categorical already: codes, not strings
    codes = np.full(len(rows), -1, np.int64)
    codes[known] = labelled.cat.codes.to_numpy()[at[known]]
    typology = np.append(labelled.cat.categories.astype(str).to_numpy(object), "")[codes]
    return rows.reset_index(drop=True).assign(is_suspicious=suspicious, typology=typology)


def _lookup(scores: pd.Series, ids, floor: float) -> np.ndarray:
    """The score of each id (repeats allowed), `floor` for ids without one."""
    at = pd.Index(scores.index).get_indexer(np.asarray(ids))
    values = np.append(scores.to_numpy(np.float64), floor)
    return values[at]  # at == -1 picks the appended floor


def transaction_scores(scores: pd.Series, txns: pd.DataFrame, level: str = "account"
                       ) -> np.ndarray:
    """One score per payment of `txns`. A transaction-level detector's own score by txn_id; for an
    account-level detector the higher of payer's and payee's score, which is how it ranks payments
    for review: a payment is as suspicious as the more suspicious account on it. Ids without a
    score get the detector's minimum score."""
    floor = float(scores.min()) if len(scores) else 0.0
    if level == "transaction":
        return _lookup(scores, txns["txn_id"], floor)
    return np.maximum(_lookup(scores, txns["src_account"], floor),
                      _lookup(scores, txns["dst_account"], floor))


def account_view(txn_score: np.ndarray, txns: pd.DataFrame) -> pd.Series:
    """Per account, the highest score of the payments it made or received (how a
    transaction-level detector's scores choose accounts to alert)."""
    ends = np.r_[txns["src_account"].to_numpy(), txns["dst_account"].to_numpy()]
    return pd.Series(np.r_[txn_score, txn_score]).groupby(ends).max()


def transaction_metrics(scores: pd.Series, txns: pd.DataFrame, accounts: pd.Index, budget: int,
                        level: str = "account", threshold: float | None = None) -> dict:
    """Transaction-level metrics on the payments `txns` (see `period_transactions`), ranked by
    `transaction_scores`.

    The transaction budget is the number of these payments made or received by the accounts the
    account budget alerts on (the top `budget` of `accounts`, as in `account_metrics`): reviewing
    an alerted account means reading its payments. It therefore differs between detectors (one
    alerting busy accounts reviews more payments) and is reported as "budget". F1 flags a payment
    when its score reaches the validation threshold (an account-level detector: when either end
    would be alerted); without a threshold it is null."""
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    score = transaction_scores(scores, txns, level)
    y = txns["is_suspicious"].to_numpy(bool)
    ids = pd.Index(txns["txn_id"])
    by_account = scores if level == "account" else account_view(score, txns)
    alerted = top_k(by_account.reindex(accounts).fillna(by_account.min()), budget)
    reviewed = int((txns["src_account"].isin(alerted) | txns["dst_account"].isin(alerted)).sum())
    hit = ids.isin(top_k(pd.Series(score, index=ids), reviewed)) if reviewed else \
        np.zeros(len(ids), bool)
    both = 0 < y.sum() < y.size
    flagged = threshold is not None and np.isfinite(threshold)
    typology = txns["typology"]
    decoy = ~y & typology.str.startswith("decoy:").to_numpy(bool)
    return {
        "average_precision": float(average_precision_score(y, score)) if both else None,
        "roc_auc": float(roc_auc_score(y, score)) if both else None,
        "f1": float(f1_score(y, score >= threshold, zero_division=0)) if both and flagged
        else None,
        "threshold": threshold if flagged else None,
        "budget": reviewed,
        "precision_at_budget": float(y[hit].mean()) if hit.any() else None,
        "recall_at_budget": float(hit[y].mean()) if y.any() else None,
        "by_typology": _share_per_class(hit[y], typology[y]),
        "decoy_false_positive_rate": _share_per_class(hit[decoy], typology[decoy].astype(str)
                                                      .str.removeprefix("decoy:")),
        "median_days_to_detection": None,
        "positives": int(y.sum()),
        "negatives": int(y.size - y.sum()),
    }


def _share_per_class(hit: np.ndarray, cls: pd.Series) -> dict:
    """Per class, the share of its rows that were hit."""
    shares = pd.Series(hit).groupby(cls.astype(str).to_numpy()).mean().sort_index()
    return {str(c): float(v) for c, v in shares.items()}
