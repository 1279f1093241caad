"""The columnar view every feature function reads: transactions strictly before a cutoff, with
accounts as positions 0..n-1 and the derived columns (local hour, corridor risk, family link)
computed once.

Rows are ordered by time, so the transactions of any trailing window are one slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from finlab.errors import InputError
from finlab.schema import CHANNELS, Dataset

DAY = 86_400
DEFAULT_WINDOWS = (1, 7, 30, 90)
#: cover words of payment references (CS07), matched as whole words, case-insensitive
COVER_WORDS = ("gift", "treat", "birthday", "invoice", "expenses", "fees", "school", "uniform",
               "medical", "accommodation", "family support", "education")
#: an amount just below a reporting threshold (base currency) counts as structuring-like
REPORTING_THRESHOLD = 10_000.0
NIGHT = (22.0, 6.0)  # CS06: 22:00-06:00 in the payer's local time


def as_of_time(ds: Dataset) -> pd.Timestamp:
    """The cutoff a dataset stands for: its manifest's `as_of` if set, else one second after its
    last transaction (so every transaction in it counts as the past)."""
    if ds.manifest.get("as_of"):
        return pd.Timestamp(ds.manifest["as_of"]).tz_convert("UTC")
    if len(ds.transactions) == 0:
        raise InputError("dataset has no transactions: nothing to compute features from")
    return ds.transactions["ts"].max().floor("s") + pd.Timedelta(seconds=1)


def _seconds(ts: pd.Series | pd.Timestamp) -> np.ndarray | int:
    if isinstance(ts, pd.Timestamp):
        return -(-int(ts.tz_convert("UTC").value) // 1_000_000_000)  # a fraction rounds up
    return ts.dt.tz_convert("UTC").astype("datetime64[s, UTC]").astype("int64").to_numpy()


def per_category(col: pd.Series, values_of, fill=-1) -> np.ndarray:
    """Apply `values_of` (Index of distinct strings -> array) once per category and map it to
    rows through the category codes: fast on millions of rows with few distinct values."""
    cat = col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")
    values = np.asarray(values_of(pd.Index(cat.cat.categories.astype(str))))
    codes = cat.cat.codes.to_numpy()
    out = np.append(values, np.asarray([fill], dtype=values.dtype))  # code -1 (missing) -> fill
    return out[codes]


@dataclass
class Ledger:
    """Transactions before `as_of` as numpy arrays, plus per-account context."""

    as_of: int  # seconds since the epoch, UTC
    account_id: np.ndarray  # sorted int64 ids; position = account index
    src: np.ndarray  # int32 account positions
    dst: np.ndarray
    t: np.ndarray  # int64 seconds, ascending
    amount: np.ndarray  # base currency
    amount_local: np.ndarray  # currency of the payment
    channel: np.ndarray  # int16 index into CHANNELS
    src_country: np.ndarray  # int index into the countries table (-1 unknown)
    dst_country: np.ndarray
    cross_border: np.ndarray  # bool
    high_risk_dst: np.ndarray  # bool: the payee's country is rated high risk
    local_hour: np.ndarray  # float32 hour of day in the payer's country
    cover_word: np.ndarray  # bool: the reference carries a cover word (CS07)
    src_bank: np.ndarray  # int32 bank codes
    dst_bank: np.ndarray
    household: np.ndarray  # int64 dense code of each account's household (family link)
    account_kind: np.ndarray  # object array of account kinds
    account_opened: np.ndarray | None = None  # int64 seconds when each account was opened
    sectors: tuple[str, ...] = ()  # sector names of parties (merchant categories)
    dst_sector: np.ndarray | None = None  # int16 index into `sectors` of each payee's party
    extra: dict = field(default_factory=dict)

    @property
    def n_accounts(self) -> int:
        return self.account_id.size

    def since(self, days: float) -> int:
        """Index of the first transaction in the trailing window of `days` before as_of."""
        return int(np.searchsorted(self.t, self.as_of - days * DAY, side="left"))

    @cached_property
    def night(self) -> np.ndarray:
        """Paid between 22:00 and 06:00 in the payer's local time (CS06)."""
        return (self.local_hour >= NIGHT[0]) | (self.local_hour < NIGHT[1])

    @cached_property
    def even(self) -> np.ndarray:
        """A whole multiple of 5 in the payment's currency (CS02)."""
        whole = np.round(self.amount_local)
        return (np.abs(self.amount_local - whole) < 1e-9) & (whole % 5 == 0)

    @cached_property
    def related(self) -> np.ndarray:
        """Payer and payee share a household (a family link, e.g. a relative abroad)."""
        return self.household[self.src] == self.household[self.dst]

    def count(self, who: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per-account sums over the given rows (np.bincount onto all accounts)."""
        return np.bincount(who, weights=weights, minlength=self.n_accounts)


def keyword_hits(references: pd.Series, words=COVER_WORDS) -> np.ndarray:
    """Whether each reference contains one of `words` as a whole word; computed once per distinct
    reference, then mapped to rows."""
    pattern = r"\b(?:" + "|".join(map(_escape, words)) + r")\b"
    return per_category(
        references, lambda cats: cats.str.contains(pattern, case=False, regex=True), fill=False,
    ).astype(bool)


def _escape(word: str) -> str:
    import re

    return re.escape(word).replace(r"\ ", r"\s+")


def build_ledger(ds: Dataset, as_of: pd.Timestamp | None = None, *,
                 cover_words=COVER_WORDS) -> Ledger:
    """The ledger of `ds` as of a cutoff: only transactions strictly before it are kept."""
    as_of = as_of_time(ds) if as_of is None else pd.Timestamp(as_of)
    if as_of.tzinfo is None:
        as_of = as_of.tz_localize("UTC")
    cutoff = _seconds(as_of)
    tx = ds.transactions
    t = _seconds(tx["ts"])
    keep = t < cutoff
    if not keep.all():
        tx, t = tx[keep], t[keep]
    order = np.argsort(t, kind="stable")
    if not np.all(order == np.arange(order.size)):
        tx, t = tx.iloc[order], t[order]

    acc = ds.accounts.sort_values("account_id")
    ids = acc["account_id"].to_numpy(np.int64)
    src = np.searchsorted(ids, tx["src_account"].to_numpy(np.int64))
    dst = np.searchsorted(ids, tx["dst_account"].to_numpy(np.int64))
    for side, pos in (("src_account", src), ("dst_account", dst)):
        bad = (pos >= ids.size) | (ids[np.minimum(pos, ids.size - 1)] != tx[side].to_numpy())
        if bad.any():
            raise InputError(f"transactions.{side}: {int(bad.sum())} ids are not in accounts")

    countries = ds.countries.assign(country=ds.countries["country"].astype(str))
    country_index = pd.Index(countries["country"])
    src_c = per_category(tx["src_country"], country_index.get_indexer)
    dst_c = per_category(tx["dst_country"], country_index.get_indexer)
    high = np.append(countries["risk"].astype(str).str.lower().eq("high").to_numpy(), False)
    offset = np.append(countries["utc_offset"].astype(float).to_numpy(), 0.0)
    hour = ((t % DAY) / 3600.0 + offset[src_c]) % 24

    parties = ds.parties.set_index("party_id")["household_id"]
    household = parties.reindex(acc["party_id"]).to_numpy()
    household = np.where(pd.isna(household), -1 - np.arange(ids.size), household).astype(np.int64)
    household = np.unique(household, return_inverse=True)[1].astype(np.int64)  # dense codes
    sector = ds.parties.set_index("party_id")["sector"].astype(str).reindex(acc["party_id"])
    sectors = pd.Index(sorted(sector.dropna().unique()))
    account_sector = np.append(sectors.get_indexer(sector.fillna("")), -1).astype(np.int16)
    bank_index = pd.Index(ds.banks["bank_id"].astype(str))
    channel_index = pd.Index(CHANNELS)
    return Ledger(
        as_of=cutoff,
        account_id=ids,
        src=src.astype(np.int32),
        dst=dst.astype(np.int32),
        t=t,
        amount=tx["amount_base"].to_numpy(np.float64),
        amount_local=tx["amount"].to_numpy(np.float64),
        channel=per_category(tx["channel"], channel_index.get_indexer).astype(np.int16),
        src_country=src_c.astype(np.int16),
        dst_country=dst_c.astype(np.int16),
        cross_border=src_c != dst_c,
        high_risk_dst=high[dst_c],
        local_hour=hour.astype(np.float32),
        cover_word=keyword_hits(tx["reference"], cover_words),
        src_bank=per_category(tx["src_bank"], bank_index.get_indexer).astype(np.int32),
        dst_bank=per_category(tx["dst_bank"], bank_index.get_indexer).astype(np.int32),
        household=household,
        account_kind=acc["kind"].astype(str).to_numpy(object),
        account_opened=_seconds(acc["opened_at"]),
        sectors=tuple(sectors),
        dst_sector=account_sector[dst],
        extra={"txn_id": tx["txn_id"].to_numpy(np.int64)},
    )
