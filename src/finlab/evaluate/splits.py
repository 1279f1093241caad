"""Temporal splits: what a detector may know at a cutoff (transactions and labels strictly
before it), and which accounts are the targets of a period."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from finlab.errors import InputError
from finlab.schema import Dataset, Labels


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


@dataclass(frozen=True)
class Targets:
    """Who should be found in one period: positives with their typology and first suspicious time
    in the period; accounts left out of scoring (roles in cases not active in the period); and the
    look-alike class of benign decoys."""

    y: pd.Series  # 1/0 per account id (left-out accounts removed)
    typology: pd.Series  # per positive account
    case_id: pd.Series  # per positive account
    first_seen: pd.Series  # per positive account: first suspicious transaction in the period
    decoy: pd.Series  # per decoy account: look-alike class


def period_targets(ds: Dataset, start: pd.Timestamp, end: pd.Timestamp) -> Targets:
    lab = ds.labels
    if lab is None:
        raise InputError("evaluation needs a labelled dataset (labels/ directory)")
    tx = ds.transactions
    in_period = tx[(tx["ts"] >= start) & (tx["ts"] < end)]
    lt = lab.transactions.merge(in_period[["txn_id", "ts", "src_account", "dst_account"]],
                                on="txn_id")
    lt = lt[lt["is_suspicious"].astype(bool)]
    ends = pd.concat([lt[["src_account", "ts", "case_id"]].set_axis(["account_id", "ts", "case_id"],
                                                                     axis=1),
                      lt[["dst_account", "ts", "case_id"]].set_axis(["account_id", "ts", "case_id"],
                                                                    axis=1)])
    roles = lab.accounts[lab.accounts["case_id"].notna()]
    hits = ends.merge(roles[["account_id", "case_id", "typology"]], on=["account_id", "case_id"])
    first = hits.sort_values("ts").drop_duplicates("account_id").set_index("account_id")
    ids = pd.Index(ds.accounts["account_id"])
    stale = pd.Index(roles["account_id"].unique()).difference(first.index)
    ids = ids.difference(stale)
    y = pd.Series(ids.isin(first.index).astype(int), index=ids)
    decoys = lab.accounts[lab.accounts["case_id"].isna() & lab.accounts["role"].astype(str)
                          .str.startswith("decoy:")]
    decoys = decoys[decoys["account_id"].isin(ids) & ~decoys["account_id"].isin(first.index)]
    decoy = decoys.drop_duplicates("account_id").set_index("account_id")["role"].astype(str)
    return Targets(y=y, typology=first["typology"].astype(str), case_id=first["case_id"],
                   first_seen=first["ts"], decoy=decoy.str.removeprefix("decoy:"))
