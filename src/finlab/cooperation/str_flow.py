"""Suspicious transaction reports: a bank's analysts review the top of their alert queue, as many
accounts as their capacity allows, and file an STR on each; an STR carries the account, the
transactions behind the alert and (through them) the counterparties."""

from __future__ import annotations

import numpy as np
import pandas as pd

from finlab.evaluate.metrics import top_k
from finlab.schema import Dataset

STR_COLUMNS = ["account_id", "bank_id", "country", "filed_at", "score"]


def no_strs() -> pd.DataFrame:
    return pd.DataFrame({"account_id": pd.Series(dtype=np.int64), "bank_id": pd.Series(dtype=str),
                         "country": pd.Series(dtype=str),
                         "filed_at": pd.Series(dtype="datetime64[ns, UTC]"),
                         "score": pd.Series(dtype=np.float64)})


def normalise(scores: pd.Series) -> pd.Series:
    """Scores scaled to [0, 1] within one party's queue (its lowest score becomes 0), so that
    boosts from cooperation weigh the same whatever the detector's scale."""
    if scores.empty:
        return scores.astype(np.float64)
    lo, hi = float(scores.min()), float(scores.max())
    span = hi - lo
    return (scores - lo) / span if span > 0 else scores * 0.0


def file_strs(queue: pd.Series, capacity: int, reported: pd.Index, *, bank_id: str,
              country: str, filed_at: pd.Timestamp) -> pd.DataFrame:
    """STRs on the `capacity` highest accounts of `queue` that were not reported before and stand
    above the queue's floor (an account nothing points at is never reported)."""
    open_ = queue[~queue.index.isin(reported) & (queue > 0)]
    chosen = top_k(open_, capacity)
    if chosen.empty:
        return no_strs()
    return pd.DataFrame({"account_id": chosen.to_numpy(np.int64), "bank_id": bank_id,
                         "country": country, "filed_at": filed_at,
                         "score": open_.reindex(chosen).to_numpy(np.float64)})


def str_transactions(ds: Dataset, strs: pd.DataFrame, lookback_days: float) -> pd.DataFrame:
    """The transactions behind each STR: the subject's payments in and out during the
    `lookback_days` before filing (columns txn_id, account_id, counterparty, filed_at)."""
    tx = ds.transactions
    if strs.empty:
        return pd.DataFrame({"txn_id": pd.Series(dtype=np.int64),
                             "account_id": pd.Series(dtype=np.int64),
                             "counterparty": pd.Series(dtype=np.int64),
                             "filed_at": pd.Series(dtype="datetime64[ns, UTC]")})
    subjects = strs[["account_id", "filed_at"]]
    sides = []
    for own, other in (("src_account", "dst_account"), ("dst_account", "src_account")):
        rows = tx.loc[tx[own].isin(subjects["account_id"]), ["txn_id", "ts", own, other]]
        rows = rows.set_axis(["txn_id", "ts", "account_id", "counterparty"], axis=1)
        sides.append(rows.merge(subjects, on="account_id"))
    both = pd.concat(sides, ignore_index=True)
    window = (both["ts"] < both["filed_at"]) & (
        both["ts"] >= both["filed_at"] - pd.Timedelta(days=lookback_days))
    return both.loc[window, ["txn_id", "account_id", "counterparty", "filed_at"]].reset_index(
        drop=True)
