"""Counterparty diversity and novelty: distinct and new payees, payees without a family link
(CS04), and on the receiving side distinct unrelated sender households, banks and countries
(fan-in of unrelated senders, CS05), also counting only senders abroad."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from finlab.features.groups import FEATURE_GROUPS
from finlab.features.ledger import Ledger


def pair_times(owner: np.ndarray, other: np.ndarray, t: np.ndarray, mask: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (owner, other) pairs with the first and last time they occur."""
    pairs = Pairs(owner, other, t, mask)
    return pairs.owner, pairs.first, pairs.last


class Pairs:
    """Distinct (owner, other) pairs of the rows, with their first and last time; row flags can be
    carried to the pairs (`any_of`) so one sort serves several masked counts."""

    def __init__(self, owner, other, t, mask=None):
        if mask is not None:
            owner, other, t = owner[mask], other[mask], t[mask]
        key = owner.astype(np.int64) << 32 | (other.astype(np.int64) & 0xFFFFFFFF)
        self.order = np.argsort(key)  # any order within a pair: first/last come from min/max
        key_sorted, t_sorted = key[self.order], t[self.order]
        self.starts = np.flatnonzero(np.r_[key_sorted.size > 0,
                                           key_sorted[1:] != key_sorted[:-1]])
        self.owner = (key_sorted[self.starts] >> 32).astype(np.int64)
        self.other = (key_sorted[self.starts] & 0xFFFFFFFF).astype(np.int64)
        empty = self.starts.size == 0
        self.first = t_sorted[:0] if empty else np.minimum.reduceat(t_sorted, self.starts)
        self.last = t_sorted[:0] if empty else np.maximum.reduceat(t_sorted, self.starts)

    def any_of(self, flags: np.ndarray) -> np.ndarray:
        """Per pair, whether any of its rows has the flag."""
        if self.starts.size == 0:
            return np.zeros(0, bool)
        return np.maximum.reduceat(flags[self.order].astype(np.int8), self.starts).astype(bool)

    def distinct(self, lg: Ledger, name: str, windows, owner=None, keep=None,
                 new: str | None = None) -> dict[str, np.ndarray]:
        """Per window, distinct counterparties per owner (and how many are new in the window)."""
        who = self.owner if owner is None else owner
        first, last = self.first, self.last
        if keep is not None:
            who, first, last = who[keep], first[keep], last[keep]
        cols = {}
        for w in windows:
            start = lg.as_of - w * 86_400
            cols[f"{name}_{w}d"] = lg.count(who, last >= start)
            if new:
                cols[f"{new}_{w}d"] = lg.count(who, first >= start)
        return cols


@FEATURE_GROUPS.register("counterparties")
def counterparties(lg: Ledger, windows: Sequence[int]) -> dict[str, np.ndarray]:
    pairs = Pairs(lg.src, lg.dst, lg.t)  # one sort serves payers and payees alike
    unrelated = lg.household[pairs.owner] != lg.household[pairs.other]
    risky = pairs.any_of(lg.high_risk_dst & lg.cross_border)
    cols = {}
    cols.update(pairs.distinct(lg, "out_distinct", windows, new="out_new"))
    cols.update(pairs.distinct(lg, "out_unrelated", windows, keep=unrelated))
    cols.update(pairs.distinct(lg, "high_risk_unrelated", windows, keep=unrelated & risky))
    cols.update(pairs.distinct(lg, "in_distinct", windows, owner=pairs.other, new="in_new"))
    households = Pairs(lg.dst, lg.household[lg.src], lg.t, ~lg.related)
    cols.update(households.distinct(lg, "in_unrelated_households", windows))
    foreign = households.any_of(lg.cross_border[~lg.related])
    cols.update(households.distinct(lg, "in_foreign_senders", windows, keep=foreign))
    cols.update(Pairs(lg.dst, lg.src_bank, lg.t).distinct(lg, "in_banks", windows))
    cols.update(Pairs(lg.dst, lg.src_country, lg.t).distinct(lg, "in_countries", windows))
    return cols
