"""Temporal splits: what a detector may know at a cutoff (transactions and labels strictly
before it). Which accounts are the targets of a period is finlab.truth's."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from finlab.errors import InputError
from finlab.schema import Dataset, Labels, mark_prefix
from finlab.truth import Targets, period_targets  # noqa: F401  (the truth lives there)


@dataclass(frozen=True)
class TemporalSplit:
    """Train [start, train_end), validation [train_end, validation_end), test [validation_end, end)."""

    start: pd.Timestamp
    train_end: pd.Timestamp
    validation_end: pd.Timestamp
    end: pd.Timestamp

    def as_dict(self) -> dict:
        iso = lambda t: t.isoformat()
        return {"kind": "temporal", "train": [iso(self.start), iso(self.train_end)],
                "validation": [iso(self.train_end), iso(self.validation_end)],
                "test": [iso(self.validation_end), iso(self.end)]}


def temporal_split(ds: Dataset, fractions=(0.6, 0.2, 0.2)) -> TemporalSplit:
    """Cut the data's days into train / validation / test by the given fractions (whole days)."""
    ts = ds.transactions["ts"]
    if ts.empty:
        raise InputError("dataset has no transactions to split")
    start = ts.min().floor("D")
    end = ts.max().floor("D") + pd.Timedelta(days=1)
    days = (end - start).days
    f = np.asarray(fractions, float)
    if f.size != 3 or (f <= 0).any() or abs(f.sum() - 1) > 1e-6:
        raise InputError(f"split fractions must be three positive numbers adding up to 1, "
                         f"got {list(fractions)}")
    train_days = max(1, round(float(days * f[0])))
    val_days = max(1, round(float(days * f[1])))
    if train_days + val_days >= days:
        raise InputError(f"the data spans {days} days: too few for a train/validation/test split")
    return TemporalSplit(start, start + pd.Timedelta(days=train_days),
                         start + pd.Timedelta(days=train_days + val_days), end)


def until(ds: Dataset, cutoff: pd.Timestamp) -> Dataset:
    """The dataset as known at `cutoff`: transactions strictly before it, and only the truth that
    those transactions reveal (account roles of cases are kept for accounts that already took part
    in a suspicious transaction; observed flags raised before the cutoff)."""
    tx = ds.transactions
    keep = (tx["ts"] < cutoff).to_numpy()
    sliced = replace(ds, transactions=tx[keep], manifest={**ds.manifest, "as_of": str(cutoff)})
    mark_prefix(sliced, ds)
    if ds.labels is None:
        return sliced
    lab = ds.labels
    lt = lab.transactions[lab.transactions["txn_id"].isin(tx.loc[keep, "txn_id"])]
    involved = involved_accounts(tx[keep], lt)
    la = lab.accounts
    la = la[la["case_id"].isna() | la["account_id"].isin(involved)]
    cases = lab.cases[lab.cases["case_id"].isin(la["case_id"].dropna())]
    observed = lab.observed
    if observed is not None:
        observed = observed[observed["flagged_at"] < cutoff]
    return replace(sliced, labels=Labels(transactions=lt, accounts=la, cases=cases,
                                         party_attributes=lab.party_attributes,
                                         observed=observed))


def involved_accounts(tx: pd.DataFrame, txn_labels: pd.DataFrame) -> pd.Index:
    """Accounts at either end of a suspicious transaction among `tx`."""
    bad = txn_labels.loc[txn_labels["is_suspicious"].astype(bool), "txn_id"]
    rows = tx[tx["txn_id"].isin(bad)]
    return pd.Index(np.unique(np.r_[rows["src_account"].to_numpy(), rows["dst_account"].to_numpy()]))
