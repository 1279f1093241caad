"""Counterparty diversity and novelty: distinct and new payees, payees without a family link
(CS04), and on the receiving side distinct unrelated sender households, banks and countries
(fan-in of unrelated senders, CS05), also counting only senders abroad."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from finlab.features import FEATURE_GROUPS
from finlab.features.ledger import Ledger


def pair_times(owner: np.ndarray, other: np.ndarray, t: np.ndarray, mask: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (owner, other) pairs with the first and last time they occur.

    Rows are in time order, so the first occurrence of a pair is its first time and the last
    occurrence its last time."""
    if mask is not None:
        owner, other, t = owner[mask], other[mask], t[mask]
    key = owner.astype(np.int64) << 32 | (other.astype(np.int64) & 0xFFFFFFFF)
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    starts = np.flatnonzero(np.r_[key_sorted.size > 0, key_sorted[1:] != key_sorted[:-1]])
    ends = np.r_[starts[1:], key_sorted.size][: starts.size] - 1
    pair_owner = (key_sorted[starts] >> 32).astype(np.int64)
    return pair_owner, t[order[starts]], t[order[ends]]


def distinct_in_windows(lg: Ledger, name: str, windows: Sequence[int], owner, other, t,
                        mask=None, new: str | None = None) -> dict[str, np.ndarray]:
    """Per window, how many distinct counterparties each owner had (and, if `new` names it, how
    many of them appear for the first time in that window)."""
    who, first, last = pair_times(owner, other, t, mask)
    cols = {}
    for w in windows:
        start = lg.as_of - w * 86_400
        cols[f"{name}_{w}d"] = lg.count(who, last >= start)
        if new:
            cols[f"{new}_{w}d"] = lg.count(who, first >= start)
    return cols


@FEATURE_GROUPS.register("counterparties")
def counterparties(lg: Ledger, windows: Sequence[int]) -> dict[str, np.ndarray]:
    unrelated = ~lg.related
    risky = lg.high_risk_dst & lg.cross_border
    cols = {}
    cols.update(distinct_in_windows(lg, "out_distinct", windows, lg.src, lg.dst, lg.t,
                                    new="out_new"))
    cols.update(distinct_in_windows(lg, "out_unrelated", windows, lg.src, lg.dst, lg.t,
                                    mask=unrelated))
    cols.update(distinct_in_windows(lg, "high_risk_unrelated", windows, lg.src, lg.dst, lg.t,
                                    mask=unrelated & risky))
    cols.update(distinct_in_windows(lg, "in_distinct", windows, lg.dst, lg.src, lg.t,
                                    new="in_new"))
    sender_household = lg.household[lg.src]
    cols.update(distinct_in_windows(lg, "in_unrelated_households", windows, lg.dst,
                                    sender_household, lg.t, mask=unrelated))
    cols.update(distinct_in_windows(lg, "in_foreign_senders", windows, lg.dst,
                                    sender_household, lg.t, mask=unrelated & lg.cross_border))
    cols.update(distinct_in_windows(lg, "in_banks", windows, lg.dst, lg.src_bank, lg.t))
    cols.update(distinct_in_windows(lg, "in_countries", windows, lg.dst, lg.src_country, lg.t))
    return cols
