"""The one definition of the truth: which accounts and payments are suspicious, when each account
first took part, its look-alike class, which cases run in a period and who the positives of a
period are. `finlab detect`, `finlab run`, `finlab cooperate` and `finlab audit` all read it here,
so their figures count the same things."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from finlab.errors import InputError
from finlab.schema import Dataset, Labels

DECOY = "decoy:"


def require_labels(ds: Dataset) -> Labels:
    if ds.labels is None:
        raise InputError("evaluation needs a labelled dataset (labels/ directory)")
    return ds.labels


def suspicious_accounts(labels: Labels) -> pd.Index:
    """Account ids that play a role in a suspicious case (look-alikes are not suspicious)."""
    la = labels.accounts
    return pd.Index(la.loc[la["case_id"].notna(), "account_id"].unique())


def suspicious_payments(labels: Labels) -> pd.Index:
    """txn ids of suspicious payments (every typology; look-alikes are not)."""
    lt = labels.transactions
    return pd.Index(lt.loc[lt["is_suspicious"].astype(bool), "txn_id"])


def look_alike_class(labels: Labels) -> pd.Series:
    """Per benign look-alike account (no role in any suspicious case), its class without the
    "decoy:" prefix."""
    la = labels.accounts
    decoys = la[la["case_id"].isna() & la["role"].astype(str).str.startswith(DECOY)]
    decoys = decoys[~decoys["account_id"].isin(suspicious_accounts(labels))]
    first = decoys.drop_duplicates("account_id").set_index("account_id")["role"].astype(str)
    return first.str.removeprefix(DECOY)


def account_label(labels: Labels) -> pd.DataFrame:
    """One label row per labelled account, indexed by account id: its role in a suspicious case
    if it has one, else its look-alike row."""
    la = labels.accounts.assign(suspicious=labels.accounts["case_id"].notna())
    la = la.sort_values(["account_id", "suspicious"], ascending=[True, False], kind="stable")
    return la.drop_duplicates("account_id").set_index("account_id")


def account_roles(labels: Labels) -> pd.Series:
    """One role per labelled account: its role in a suspicious case if it has one, else its
    look-alike class ("decoy:...")."""
    return account_label(labels)["role"].astype(str)


def suspicious_ends(ds: Dataset, start: pd.Timestamp | None = None,
                    end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Both ends of every suspicious payment with ts in [start, end): account_id, ts, case_id,
    restricted to accounts that have a role in that payment's case."""
    lab = require_labels(ds)
    tx = ds.transactions
    keep = np.ones(len(tx), bool)
    if start is not None:
        keep &= (tx["ts"] >= start).to_numpy()
    if end is not None:
        keep &= (tx["ts"] < end).to_numpy()
    lt = lab.transactions
    lt = lt[lt["is_suspicious"].astype(bool)]
    rows = tx.loc[keep, ["txn_id", "ts", "src_account", "dst_account"]].merge(
        lt[["txn_id", "case_id"]], on="txn_id")
    names = ["account_id", "ts", "case_id"]
    ends = pd.concat([rows[["src_account", "ts", "case_id"]].set_axis(names, axis=1),
                      rows[["dst_account", "ts", "case_id"]].set_axis(names, axis=1)])
    roles = lab.accounts[lab.accounts["case_id"].notna()]
    return ends.merge(roles[["account_id", "case_id", "typology"]].drop_duplicates(
        ["account_id", "case_id"]), on=["account_id", "case_id"])


def first_suspicious_time(ds: Dataset) -> pd.Series:
    """Per account, the time of its first suspicious payment (either end) in its own case."""
    ends = suspicious_ends(ds)
    return ends.groupby("account_id")["ts"].min()


def cases_active(ds: Dataset, start: pd.Timestamp, end: pd.Timestamp) -> pd.Index:
    """Case ids with at least one suspicious payment in [start, end)."""
    return pd.Index(suspicious_ends(ds, start, end)["case_id"].unique())


@dataclass(frozen=True)
class Targets:
    """Who should be found in one period: positives with their typology, case and first
    suspicious time in the period; accounts left out of scoring (roles only in cases not active
    in the period); and the look-alike class of benign decoys."""

    y: pd.Series  # 1/0 per account id (left-out accounts removed)
    typology: pd.Series  # per positive account
    case_id: pd.Series  # per positive account
    first_seen: pd.Series  # per positive account: first suspicious transaction in the period
    decoy: pd.Series  # per decoy account: look-alike class


def period_targets(ds: Dataset, start: pd.Timestamp, end: pd.Timestamp,
                   typology: str | None = None) -> Targets:
    """The positives of [start, end): accounts at either end of a suspicious payment in the
    period that have a role in its case. Accounts with a role in a suspicious case but no such
    payment in the period are left out. With `typology`, only that typology's accounts are
    positives and other suspicious accounts are left out (neither hits nor misses)."""
    lab = require_labels(ds)
    hits = suspicious_ends(ds, start, end)
    first = hits.sort_values("ts", kind="stable").drop_duplicates("account_id").set_index(
        "account_id")
    roles = suspicious_accounts(lab)
    if typology is not None:
        first = first[first["typology"].astype(str) == typology]
    ids = pd.Index(ds.accounts["account_id"])
    ids = ids.difference(roles.difference(first.index))
    y = pd.Series(ids.isin(first.index).astype(int), index=ids)
    decoy = look_alike_class(lab)
    decoy = decoy[decoy.index.isin(ids)]
    return Targets(y=y, typology=first["typology"].astype(str), case_id=first["case_id"],
                   first_seen=first["ts"], decoy=decoy)


def positive_share_by_window(ds: Dataset, days: int = 30) -> pd.DataFrame:
    """Per full `days`-day window from the first payment's day: payments, suspicious payments,
    their share and the ratio of that share to the whole period's (1.0 is steady)."""
    lab = require_labels(ds)
    tx = ds.transactions
    ts = tx["ts"]
    start = ts.min().floor("D")
    window = ((ts - start) // pd.Timedelta(days=days)).to_numpy()
    bad = tx["txn_id"].isin(suspicious_payments(lab)).to_numpy()
    n = np.bincount(window)
    k = np.bincount(window, weights=bad, minlength=n.size)
    full = int((ts.max().floor("D") + pd.Timedelta(days=1) - start) // pd.Timedelta(days=days))
    n, k = n[:full], k[:full]
    share = k / np.maximum(n, 1)
    overall = bad.mean() if bad.size else 0.0
    return pd.DataFrame({"window": np.arange(full), "payments": n, "suspicious": k.astype(int),
                         "share": share, "ratio": share / overall if overall else np.nan})
