"""What every payment detector shares: the payment features of a dataset (cached), the training
targets per payment, and the account view of payment scores (so account-level metrics, reports
and `finlab cooperate` accept a payment detector)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from finlab.detectors.base import Detector, cached, explanation, require_labels
from finlab.errors import InputError
from finlab.features.payments import DEFAULT_HORIZON, payment_features
from finlab.registry import StrictModel
from finlab.schema import Dataset, Labels, prefix_source


class PaymentParams(StrictModel):
    mode: Literal["strict", "window"] = Field(
        "strict", description="strict: only earlier payments; window: also up to `horizon` after")
    horizon: int = Field(DEFAULT_HORIZON, ge=1, description="seconds `window` mode looks ahead")
    account_score: Literal["max", "top_mean"] = Field(
        "max", description="an account's score: its highest payment score, or the mean of its "
        "top_k highest")
    top_k: int = Field(3, ge=1, description="payments averaged by account_score: top_mean")


def features_of(data: Dataset, mode: str, horizon: int) -> pd.DataFrame:
    """`payment_features` of a dataset, computed once per dataset object, mode and horizon. In
    strict mode a time prefix of a dataset (the training, validation and checkpoint views of an
    experiment) takes its rows from the features of the whole dataset: a payment's strict
    features never depend on later payments, so they are computed once for every view."""
    return per_payment(data, mode, ("payments", mode, horizon),
                       lambda ds: payment_features(ds, mode, horizon))


def per_payment(data: Dataset, mode: str, what: tuple, compute):
    """`compute(ds)` (a frame or series indexed by txn_id in time order), cached; in strict mode
    computed on the dataset `data` was cut from by time (`schema.prefix_source`) and cut to
    `data`'s payments, which are its first rows."""
    source = prefix_source(data) if mode == "strict" else None
    if source is None:
        return cached(data, what, lambda: compute(data))
    whole = cached(source, what, lambda: compute(source))
    n = len(data.transactions)
    if not cached(data, ("is head of", id(source), len(whole)),
                  lambda: bool(whole.index[:n].isin(data.transactions["txn_id"]).all())):
        return cached(data, what, lambda: compute(data))
    head = whole.iloc[:n]
    head.attrs = dict(whole.attrs)
    return head


def payment_targets(labels: Labels, txn_ids: pd.Index) -> np.ndarray:
    """1 for payments labelled suspicious (any typology; look-alikes are not), aligned."""
    lt = labels.transactions
    bad = lt.loc[lt["is_suspicious"].astype(bool), "txn_id"].to_numpy()
    return txn_ids.isin(bad).astype(np.int8)


class PaymentDetector(Detector):
    """A detector whose `score` ranks payments (indexed by txn_id)."""

    level = "transaction"
    family = "payment"
    Params = PaymentParams

    def features(self, data: Dataset) -> pd.DataFrame:
        return features_of(data, self.params.mode, self.params.horizon)

    def targets(self, data: Dataset, labels: Labels | None, index: pd.Index) -> np.ndarray:
        labels = require_labels(self, labels if labels is not None else data.labels)
        y = payment_targets(labels, index)
        if y.sum() == 0 or y.sum() == y.size:
            raise InputError(f"detector {self.name!r}: the training payments hold only one "
                             "class; it needs suspicious and other payments")
        return y

    def account_scores(self, data: Dataset) -> pd.Series:
        """Per account: its highest payment score (made or received), or the mean of its top_k;
        accounts without payments get the lowest score."""
        s = self.score(data)
        tx = data.transactions
        at = pd.Index(s.index).get_indexer(tx["txn_id"])
        score = np.where(at >= 0, s.to_numpy()[np.maximum(at, 0)], s.min())
        ends = np.r_[tx["src_account"].to_numpy(np.int64), tx["dst_account"].to_numpy(np.int64)]
        both = pd.Series(np.r_[score, score])
        if self.params.account_score == "max":
            per = both.groupby(ends).max()
        else:
            frame = pd.DataFrame({"a": ends, "s": both.to_numpy()}).sort_values(
                ["a", "s"], ascending=[True, False], kind="stable")
            frame = frame[frame.groupby("a").cumcount() < self.params.top_k]
            per = frame.groupby("a")["s"].mean()
        ids = data.accounts["account_id"].to_numpy(np.int64)
        floor = float(s.min()) if len(s) else 0.0
        return per.reindex(ids).fillna(floor).rename(self.name).rename_axis("account_id")

    def explain_accounts(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        """Each account's reasons: those of its highest-scored payment."""
        s = self.score(data)
        tx = data.transactions[["txn_id", "src_account", "dst_account"]]
        long = pd.concat([tx.rename(columns={"src_account": "a"})[["txn_id", "a"]],
                          tx.rename(columns={"dst_account": "a"})[["txn_id", "a"]]])
        long = long[long["a"].isin(pd.Index(ids))]
        long = long.assign(s=s.reindex(long["txn_id"]).to_numpy())
        best = long.sort_values(["a", "s", "txn_id"], ascending=[True, False, True]).drop_duplicates(
            "a")
        why = self.explain(data, best["txn_id"].unique())
        why = best[["txn_id", "a"]].merge(why, left_on="txn_id", right_on="id")
        return explanation(why["a"], why["reason"], why["value"], why["weight"])
