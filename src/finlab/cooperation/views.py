"""What each party of the cooperation simulation sees: a dataset cut down to one party's view.

A bank sees its own customers' transactions in full and, of each counterparty, only what a payment
message carries (account, bank, country; a merchant's name and category). A national FIU sees the
transactions behind the STRs of its country's banks, plus the register of the country's cross-border
transfers. The cross-border FIU network sees the national views of all its members (so the
destination FIU's inbound view too). The pooled view is everything of the participating banks: the
upper bound. Who owns an account (party, household) is known only for the party's KYC subjects:
its customers, or the subjects of the STRs it received.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from finlab.features.ledger import per_category
from finlab.schema import (
    ACCOUNT_LABELS,
    CASE_LABELS,
    TRANSACTION_LABELS,
    Dataset,
    Labels,
    empty_table,
)


def restrict(ds: Dataset, keep: np.ndarray, kyc: pd.Index, as_of: pd.Timestamp, *,
             flags: pd.DataFrame | None = None, who: str = "", tokens=None,
             named: pd.Index | None = None) -> Dataset:
    """`ds` cut down to the transactions in `keep` strictly before `as_of`, their accounts and the
    KYC subjects `kyc`; the owners of other accounts are hidden unless they are businesses (a
    payment message names the merchant). `flags` (account_id, flagged_at) become the party's own
    observed labels; the truth is never part of a view. With `tokens` (privacy on), every account
    outside `named` (default: `kyc`) appears under its keyed hash instead of its id."""
    tx = ds.transactions
    keep = np.asarray(keep, bool) & (tx["ts"] < as_of).to_numpy()
    tx = tx[keep]
    seen = pd.Index(np.unique(np.r_[tx["src_account"].to_numpy(), tx["dst_account"].to_numpy()]))
    acc = ds.accounts[ds.accounts["account_id"].isin(seen.union(kyc))].copy()
    parties = ds.parties
    business = parties.loc[parties["kind"].astype(str) != "person", "party_id"]
    hidden = ~acc["account_id"].isin(kyc) & ~acc["party_id"].isin(business)
    if hidden.any():
        first = first_seen(tx)
        acc.loc[hidden, "party_id"] = -1  # owner unknown: no household, no sector
        acc["kind"] = acc["kind"].astype(str)
        acc.loc[hidden, "kind"] = "unknown"
        acc.loc[hidden, "opened_at"] = first.reindex(acc.loc[hidden, "account_id"]).to_numpy()
    parties = parties[parties["party_id"].isin(acc["party_id"])]
    labels = None
    if flags is not None:
        labels = Labels(transactions=empty_table(TRANSACTION_LABELS),
                        accounts=empty_table(ACCOUNT_LABELS), cases=empty_table(CASE_LABELS),
                        observed=_observed(flags, as_of))
    view = replace(ds, transactions=tx, accounts=acc.reset_index(drop=True), parties=parties,
                   labels=labels, manifest={**ds.manifest, "as_of": str(as_of), "view": who})
    return view if tokens is None else pseudonymised(view, kyc if named is None else named, tokens)


def first_seen(tx: pd.DataFrame) -> pd.Series:
    """Per account: the time of its first payment in `tx`, at either end."""
    ends = pd.concat([tx[["src_account", "ts"]].set_axis(["account_id", "ts"], axis=1),
                      tx[["dst_account", "ts"]].set_axis(["account_id", "ts"], axis=1)])
    return ends.groupby("account_id")["ts"].min()


def pseudonymised(view: Dataset, named: pd.Index, tokens) -> Dataset:
    """The view with every account id outside `named` replaced by its token."""
    ids = view.accounts["account_id"].to_numpy(np.int64)
    new = np.where(np.isin(ids, named.to_numpy(np.int64)), ids, tokens(ids))
    lookup = pd.Series(new, index=ids)
    tx = view.transactions.assign(
        src_account=lookup.reindex(view.transactions["src_account"]).to_numpy(np.int64),
        dst_account=lookup.reindex(view.transactions["dst_account"]).to_numpy(np.int64))
    labels = view.labels
    if labels is not None and labels.observed is not None:
        obs = labels.observed
        raw = obs["account_id"].to_numpy(np.int64)
        in_view = np.isin(raw, ids)  # a flag outside the view keeps the party's own id
        mapped = raw.copy()
        mapped[in_view] = lookup.reindex(raw[in_view]).to_numpy(np.int64)
        labels = replace(labels, observed=obs.assign(account_id=mapped))
    return replace(view, transactions=tx, accounts=view.accounts.assign(account_id=new),
                   labels=labels)


def _observed(flags: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    known = flags[flags["flagged_at"] < as_of].drop_duplicates("account_id")
    return pd.DataFrame({"account_id": known["account_id"].astype(np.int64),
                         "flagged_at": pd.to_datetime(known["flagged_at"], utc=True),
                         "source": "cooperation", "case_id": np.nan}).reset_index(drop=True)


def customers(ds: Dataset, bank_id: str) -> pd.Index:
    """Account ids held at one bank."""
    return pd.Index(ds.accounts.loc[ds.accounts["bank_id"] == bank_id, "account_id"])


def bank_view(ds: Dataset, bank_id: str, as_of: pd.Timestamp, *,
              flags: pd.DataFrame | None = None) -> Dataset:
    """One bank: every transaction with one end at the bank, before `as_of`."""
    tx = ds.transactions
    mine = (tx["src_bank"] == bank_id) | (tx["dst_bank"] == bank_id)
    return restrict(ds, mine.to_numpy(), customers(ds, bank_id), as_of, flags=flags,
                    who=f"bank {bank_id}")


def register_rows(ds: Dataset, countries) -> np.ndarray:
    """The cross-border register of these countries: transfers leaving or entering them."""
    tx = ds.transactions
    index = pd.Index(ds.countries["country"].astype(str))
    src = per_category(tx["src_country"], index.get_indexer)
    dst = per_category(tx["dst_country"], index.get_indexer)
    members = index.get_indexer(list(countries))
    return (src != dst) & (np.isin(src, members) | np.isin(dst, members))


def fiu_view(ds: Dataset, countries, strs: pd.DataFrame, str_txn_ids: pd.Index,
             as_of: pd.Timestamp, *, register: bool = True, tokens=None) -> Dataset:
    """A national FIU (one country) or the cross-border FIU network (several): the transactions
    behind the STRs its members received and, with `register`, their cross-border registers. The
    STR subjects are its flags and its KYC subjects."""
    countries = [countries] if isinstance(countries, str) else list(countries)
    keep = ds.transactions["txn_id"].isin(str_txn_ids).to_numpy().copy()
    if register:
        keep |= register_rows(ds, countries)
    mine = strs[strs["country"].isin(countries) & (strs["filed_at"] < as_of)]
    flags = mine.rename(columns={"filed_at": "flagged_at"})[["account_id", "flagged_at"]]
    return restrict(ds, keep, pd.Index(mine["account_id"].unique()), as_of, flags=flags,
                    who="FIU " + "+".join(countries), tokens=tokens)


def pooled_view(ds: Dataset, banks, as_of: pd.Timestamp, *,
                flags: pd.DataFrame | None = None, tokens=None) -> Dataset:
    """All transactions touching the participating banks (centralised monitoring); with
    `tokens`, the pool holds keyed hashes only."""
    tx = ds.transactions
    members = list(banks)
    keep = (tx["src_bank"].astype(str).isin(members) | tx["dst_bank"].astype(str).isin(members))
    kyc = pd.Index(ds.accounts.loc[ds.accounts["bank_id"].astype(str).isin(members), "account_id"])
    return restrict(ds, keep.to_numpy(), kyc, as_of, flags=flags, who="pooled", tokens=tokens,
                    named=pd.Index([], dtype=np.int64))
