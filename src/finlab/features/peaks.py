"""Peaks: the busiest stretch of `w` days anywhere in the longest window (e.g. the most new payers
in any 7 days of the last 90). Trailing windows only see the end of the data; a burst such as a
fan-in or a run of cash deposits may lie anywhere before it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from finlab.features.counterparties import pair_times
from finlab.features.groups import FEATURE_GROUPS
from finlab.features.ledger import DAY, REPORTING_THRESHOLD, Ledger

SCALE = np.int64(1) << 34  # time (seconds) fits below this, so owner * SCALE + t sorts by both


class Timeline:
    """Rows grouped by account and ordered by time, sorted once and reused by every window and
    weight (sorting is the expensive part)."""

    def __init__(self, owner: np.ndarray, t: np.ndarray):
        key = owner.astype(np.int64) * SCALE + t.astype(np.int64)
        self.order = np.argsort(key)
        self.key = key[self.order]
        self.owner = owner[self.order]

    def peak(self, lg: Ledger, days: int, weights: np.ndarray | None = None) -> np.ndarray:
        """Per account, the largest count (or weighted sum) of its rows in any `days`-long
        stretch (each stretch ending at one of its rows)."""
        out = np.zeros(lg.n_accounts)
        if self.key.size == 0:
            return out
        w = np.ones(self.key.size) if weights is None else \
            np.asarray(weights, np.float64)[self.order]
        cum = np.r_[0.0, np.cumsum(w)]
        lo = np.searchsorted(self.key, self.key - days * DAY, side="right")
        np.maximum.at(out, self.owner, cum[1:] - cum[lo])
        return out


@FEATURE_GROUPS.register("peaks")
def peaks(lg: Ledger, windows: Sequence[int]) -> dict[str, np.ndarray]:
    longest = max(windows)
    s = slice(lg.since(longest), None)
    src, dst, t, amount = lg.src[s], lg.dst[s], lg.t[s], lg.amount[s]
    below = ((amount >= 0.8 * REPORTING_THRESHOLD) & (amount < REPORTING_THRESHOLD)).astype(float)
    out_rows, in_rows = Timeline(src, t), Timeline(dst, t)
    new_payee, first_out, _ = pair_times(src, dst, t)
    new_payer, first_in, _ = pair_times(dst, src, t)
    new_out, new_in = Timeline(new_payee, first_out), Timeline(new_payer, first_in)
    cols = {}
    for w in windows:
        if w >= longest:
            continue
        sfx = f"_peak_{w}d"
        cols["out_count" + sfx] = out_rows.peak(lg, w)
        cols["in_count" + sfx] = in_rows.peak(lg, w)
        cols["out_sum" + sfx] = out_rows.peak(lg, w, amount)
        cols["in_sum" + sfx] = in_rows.peak(lg, w, amount)
        cols["out_new" + sfx] = new_out.peak(lg, w)
        cols["in_new" + sfx] = new_in.peak(lg, w)
        cols["out_below_threshold" + sfx] = out_rows.peak(lg, w, below)
        cols["in_below_threshold" + sfx] = in_rows.peak(lg, w, below)
    return cols
