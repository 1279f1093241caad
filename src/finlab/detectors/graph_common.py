"""Helpers shared by the graph detectors (shared_beneficiary, time_cycles, scatter_gather,
gather_scatter, dense_flow, watchlist_pagerank): a cached ledger per dataset, the rows that carry
account-to-account money (no card, no cash), hub accounts, and time-window look-ups on
transactions sorted by (account, time) that expand into candidate pairs with numpy alone.

Everything is vectorized over transactions and accounts: a time-window look-up is two
`searchsorted` calls on a combined (account, time) key and an expansion is one `np.repeat`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import Field

from finlab.detectors.base import Detector, cached, ledger_for
from finlab.features.ledger import DAY, Ledger
from finlab.registry import StrictModel
from finlab.schema import CHANNELS, Dataset

__all__ = [
    "DAY", "GraphDetector", "GraphParams", "GraphResult", "TimeIndex", "account_positions",
    "as_series", "best_per_account", "cached", "channel_rows", "distinct_counterparties",
    "distinct_pairs", "expand_bounds", "flow_rows", "format_accounts", "ledger_of",
]

# the per-dataset memo is the one of detectors.base: ledgers and intermediates are shared
ledger_of = ledger_for


# --- rows and accounts ---------------------------------------------------------------------------

def channel_rows(lg: Ledger, exclude: Sequence[str] = ("card", "cash"), start: int = 0,
                 unrelated: bool = False) -> np.ndarray:
    """Indices of the ledger rows from `start` on whose channel is not excluded, between two
    different accounts (and, with `unrelated`, of different households)."""
    codes = [CHANNELS.index(c) for c in exclude if c in CHANNELS]
    ch = lg.channel[start:]
    keep = ~np.isin(ch, np.asarray(codes, dtype=ch.dtype)) if codes else np.ones(ch.size, bool)
    keep &= lg.src[start:] != lg.dst[start:]
    if unrelated:
        keep &= ~lg.related[start:]
    return np.flatnonzero(keep) + start


def flow_rows(lg: Ledger, *, exclude_channels: Sequence[str] = ("card", "cash"),
              hub_degree: int | None = None, min_amount: float = 0.0, days: int | None = None,
              unrelated: bool = False) -> np.ndarray:
    """Rows of account-to-account money: not in `exclude_channels`, within the trailing `days`
    (None: all), at least `min_amount`, and between accounts with at most `hub_degree` distinct
    counterparties (counted over the same channels and days, before the amount filter)."""
    start = 0 if days is None else lg.since(days)
    rows = channel_rows(lg, exclude_channels, start, unrelated=unrelated)
    if hub_degree is not None:
        ok = distinct_counterparties(lg, rows) <= hub_degree
        rows = rows[ok[lg.src[rows]] & ok[lg.dst[rows]]]
    if min_amount > 0:
        rows = rows[lg.amount[rows] >= min_amount]
    return rows


def best_per_account(account: np.ndarray, value: np.ndarray,
                     n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per account (0..n-1): the largest `value` among items of that account (0 if none) and
    the index of the item holding it (-1 if none); ties go to the first item."""
    best = np.zeros(n)
    where = np.full(n, -1, np.int64)
    if account.size:
        order = np.lexsort((np.arange(account.size), -value, account))
        acc = account[order]
        first = np.r_[True, acc[1:] != acc[:-1]]
        best[acc[first]] = value[order][first]
        where[acc[first]] = order[first]
    return best, where


def distinct_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (a, b) pairs of two int64 arrays, sorted by a then b."""
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])] if a.size else np.zeros(0, bool)
    return a[first], b[first]


def distinct_counterparties(lg: Ledger, rows: np.ndarray) -> np.ndarray:
    """Per account, how many distinct accounts it paid or was paid by over `rows`."""
    n = lg.n_accounts
    a, b = lg.src[rows].astype(np.int64), lg.dst[rows].astype(np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(lo * n + hi)
    return (np.bincount(pairs // n, minlength=n) + np.bincount(pairs % n, minlength=n))


def account_positions(lg: Ledger, ids) -> tuple[np.ndarray, np.ndarray]:
    """Positions of account ids in the ledger and whether each id is known."""
    ids = np.asarray(ids, dtype=np.int64)
    pos = np.searchsorted(lg.account_id, ids)
    pos = np.minimum(pos, max(lg.n_accounts - 1, 0))
    known = lg.account_id[pos] == ids if lg.n_accounts else np.zeros(ids.size, bool)
    return pos, known


def as_series(lg: Ledger, values: np.ndarray, name: str) -> pd.Series:
    """A finite float score per account, indexed by account_id."""
    v = np.nan_to_num(np.asarray(values, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return pd.Series(v, index=pd.Index(lg.account_id, name="account_id"), name=name)


def format_accounts(lg: Ledger, positions: Sequence[int], limit: int = 6) -> str:
    """Account ids for a reason text, at most `limit` of them."""
    ids = [str(int(lg.account_id[p])) for p in positions[:limit]]
    more = len(positions) - limit
    return ", ".join(ids) + (f" and {more} more" if more > 0 else "")


# --- time windows on transactions sorted by (account, time) ------------------------------------

class TimeIndex:
    """Ledger rows sorted by (account, time), to find an account's payments in a time window
    with `searchsorted` on one combined int64 key."""

    def __init__(self, lg: Ledger, rows: np.ndarray, side: str, pad_days: float = 0.0):
        account = (lg.src if side == "src" else lg.dst)[rows].astype(np.int64)
        t = lg.t[rows]
        self.t0 = int(lg.t[0]) if lg.t.size else 0
        pad = int(pad_days * DAY) + 1
        self.offset = pad - self.t0  # times shift into 1..span, window ends stay >= 0
        self.span = (int(lg.t[-1]) - self.t0 if lg.t.size else 0) + 2 * pad + 1
        order = np.lexsort((t, account))
        self.rows = rows[order]
        self.key = account[order] * self.span + (t[order] + self.offset)

    def _key(self, account: np.ndarray, t: np.ndarray) -> np.ndarray:
        shifted = np.clip(np.asarray(t, np.int64) + self.offset, 0, self.span - 1)
        return np.asarray(account, np.int64) * self.span + shifted

    def window(self, account: np.ndarray, after: np.ndarray, until: np.ndarray,
               include_start: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Bounds [lo, hi) into `self.rows` of the account's payments with time in
        (after, until] (or [after, until] with `include_start`)."""
        lo = np.searchsorted(self.key, self._key(account, after),
                             side="left" if include_start else "right")
        hi = np.searchsorted(self.key, self._key(account, until), side="right")
        return lo, np.maximum(hi, lo)


def expand_bounds(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For bounds [lo, hi) per item: the item of each candidate (np.repeat) and its position."""
    counts = (hi - lo).astype(np.int64)
    parent = np.repeat(np.arange(counts.size), counts)
    start = np.cumsum(counts) - counts
    pos = np.arange(parent.size, dtype=np.int64) - start[parent] + lo[parent]
    return parent, pos


# --- the shared shape of a graph detector ---------------------------------------------------

class GraphParams(StrictModel):
    """Parameters every graph detector has: which payments it reads."""

    exclude_channels: list[str] = Field(
        ["card", "cash"], description="channels left out (shops, ATMs)")
    days: int | None = Field(
        None, ge=1, description="trailing window of days of payments used (None: all)")


@dataclass
class GraphResult:
    """What a graph detector computes once per dataset: the ledger and a score per ledger
    account. Each detector extends it with the intermediates its explanations read."""

    lg: Ledger
    score: np.ndarray


class GraphDetector(Detector):
    """An unsupervised graph detector: `_run(data)` computes everything once per dataset (cached
    with the parameters and `state_key()`), `score` reads its "score" per ledger account."""

    family = "graph"

    def state_key(self) -> tuple:
        """Learned state that changes the result (beyond the parameters)."""
        return ()

    def _run(self, data: Dataset) -> GraphResult:
        raise NotImplementedError

    def _compute(self, data: Dataset) -> GraphResult:
        key = (self.name, self.params.model_dump_json(), *self.state_key())
        return cached(data, key, lambda: self._run(data))

    def score(self, data: Dataset) -> pd.Series:
        self.check_fitted()
        r = self._compute(data)
        return as_series(r.lg, r.score, self.name)
