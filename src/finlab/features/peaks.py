"""Peaks: the busiest stretch of `w` days anywhere in the longest window (e.g. the most new payers
in any 7 days of the last 90). Trailing windows only see the end of the data; a burst such as a
fan-in or a run of cash deposits may lie anywhere before it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from finlab.features import FEATURE_GROUPS
from finlab.features.counterparties import pair_times
from finlab.features.ledger import DAY, REPORTING_THRESHOLD, Ledger

SCALE = np.int64(1) << 34  # time (seconds) fits below this, so owner * SCALE + t sorts by both


def rolling_peak(lg: Ledger, owner: np.ndarray, t: np.ndarray, days: int,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """Per account, the largest count (or weighted sum) of its rows in any `days`-long stretch
    (each stretch ending at one of its rows)."""
    out = np.zeros(lg.n_accounts)
    if owner.size == 0:
        return out
    key = owner.astype(np.int64) * SCALE + t.astype(np.int64)
    order = np.argsort(key, kind="stable")
    key = key[order]
    w = np.ones(key.size) if weights is None else np.asarray(weights, np.float64)[order]
    cum = np.r_[0.0, np.cumsum(w)]
    lo = np.searchsorted(key, key - days * DAY, side="right")
    total = cum[np.arange(key.size) + 1] - cum[lo]
    np.maximum.at(out, owner[order], total)
    return out


@FEATURE_GROUPS.register("peaks")
def peaks(lg: Ledger, windows: Sequence[int]) -> dict[str, np.ndarray]:
    longest = max(windows)
    s = slice(lg.since(longest), None)
    src, dst, t, amount = lg.src[s], lg.dst[s], lg.t[s], lg.amount[s]
    below = (amount >= 0.8 * REPORTING_THRESHOLD) & (amount < REPORTING_THRESHOLD)
    new_payee, first_out, _ = pair_times(src, dst, t)
    new_payer, first_in, _ = pair_times(dst, src, t)
    cols = {}
    for w in windows:
        if w >= longest:
            continue
        sfx = f"_peak_{w}d"
        cols["out_count" + sfx] = rolling_peak(lg, src, t, w)
        cols["in_count" + sfx] = rolling_peak(lg, dst, t, w)
        cols["out_sum" + sfx] = rolling_peak(lg, src, t, w, amount)
        cols["in_sum" + sfx] = rolling_peak(lg, dst, t, w, amount)
        cols["out_new" + sfx] = rolling_peak(lg, new_payee, first_out, w)
        cols["in_new" + sfx] = rolling_peak(lg, new_payer, first_in, w)
        cols["out_below_threshold" + sfx] = rolling_peak(lg, src[below], t[below], w)
        cols["in_below_threshold" + sfx] = rolling_peak(lg, dst[below], t[below], w)
    return cols
