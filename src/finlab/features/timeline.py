"""Per-account timelines for features "as of each payment": every payment sorted by (account,
time) once, so the payments of any account inside any time window are one slice found with
`np.searchsorted`; counts and sums over a slice are differences of prefix sums.

Windows are half-open in time, [lo, hi): a strict window ends at the payment's own second, so
payments at the same second or later are never seen.
"""

from __future__ import annotations

import numpy as np


class Timeline:
    """Events (account, time) sorted by account then time; queries by (account, [lo, hi))."""

    def __init__(self, account: np.ndarray, t: np.ndarray, *, pad: int = 0):
        self.t0 = int(t.min()) - pad - 1 if t.size else 0
        self.span = (int(t.max()) - self.t0 + pad + 2) if t.size else 1
        self.order = np.lexsort((t, account))
        self.account = account[self.order]
        self.t = t[self.order]
        self.key = self.account.astype(np.int64) * self.span + (self.t - self.t0)

    def _key(self, account: np.ndarray, t: np.ndarray) -> np.ndarray:
        t = np.clip(np.asarray(t, np.int64) - self.t0, 0, self.span - 1)
        return account.astype(np.int64) * self.span + t

    def bounds(self, account: np.ndarray, lo: np.ndarray, hi: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Positions [left, right) of each query's events with lo <= t < hi."""
        left = sorted_search(self.key, self._key(account, lo))
        right = sorted_search(self.key, self._key(account, hi))
        return left, np.maximum(right, left)

    def prefix(self, values: np.ndarray | None = None) -> np.ndarray:
        """Prefix sums over the sorted events (values given in original event order)."""
        v = np.ones(self.order.size) if values is None else np.asarray(values, np.float64)[
            self.order]
        return np.concatenate([[0.0], np.cumsum(v)])


def sorted_search(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """`np.searchsorted(haystack, needles, side="left")`, with the needles searched in sorted
    order: consecutive binary searches then walk nearby memory, which is about 15 times faster
    than random needles over tens of millions of events (benchmarks/detect.py --payments)."""
    order = np.argsort(needles)
    found = np.empty(needles.size, np.int64)
    found[order] = np.searchsorted(haystack, needles[order], side="left")
    return found


def window_total(prefix: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return prefix[right] - prefix[left]


def expand(left: np.ndarray, right: np.ndarray, cap: int | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """All (query, position) pairs of the slices [left, right), keeping at most the last `cap`
    positions of each slice (the most recent events) so hubs cannot blow up a join."""
    if cap is not None:
        left = np.maximum(left, right - cap)
    n = right - left
    query = np.repeat(np.arange(left.size), n)
    start = np.repeat(left - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
    return query, start + np.arange(query.size)


def previous_same(group: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For events given as (group, t), the time of the previous event of the same group
    (-inf-like when none), in the original order."""
    order = np.lexsort((t, group))
    g, ts = group[order], t[order]
    prev = np.full(ts.size, np.iinfo(np.int64).min // 2, np.int64)
    same = np.r_[False, g[1:] == g[:-1]]
    prev[same] = ts[:-1][same[1:]]
    out = np.empty_like(prev)
    out[order] = prev
    return out
