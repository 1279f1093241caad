"""Windowed activity of each account: counts, sums and amount statistics in and out, corridor,
night-time, channel, even-amount, small-amount, just-below-threshold and cover-word shares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from finlab.features.groups import FEATURE_GROUPS
from finlab.features.ledger import REPORTING_THRESHOLD, Ledger
from finlab.schema import CHANNELS

SMALL_AMOUNT = 200.0  # CS02: single payments at or below this (base currency)


def share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole, 0 where whole is 0."""
    return np.divide(part, whole, out=np.zeros_like(part, dtype=np.float64), where=whole > 0)


def group_max(lg: Ledger, who: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-account maximum of non-negative values (0 for accounts without rows)."""
    out = np.zeros(lg.n_accounts)
    if who.size:
        np.maximum.at(out, who, values)
    return out


@FEATURE_GROUPS.register("activity")
def activity(lg: Ledger, windows: Sequence[int]) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    even, night = lg.even, lg.night
    below = (lg.amount >= 0.9 * REPORTING_THRESHOLD) & (lg.amount < REPORTING_THRESHOLD)
    for w in windows:
        s = slice(lg.since(w), None)
        src, dst, amount = lg.src[s], lg.dst[s], lg.amount[s]
        sfx = f"_{w}d"
        n_out, n_in = lg.count(src), lg.count(dst)
        sum_out, sum_in = lg.count(src, amount), lg.count(dst, amount)
        cols["out_count" + sfx] = n_out
        cols["out_sum" + sfx] = sum_out
        cols["out_mean" + sfx] = share(sum_out, n_out)
        cols["out_max" + sfx] = group_max(lg, src, amount)
        cols["in_count" + sfx] = n_in
        cols["in_sum" + sfx] = sum_in
        cols["in_mean" + sfx] = share(sum_in, n_in)
        cols["in_max" + sfx] = group_max(lg, dst, amount)
        cols["small_share" + sfx] = share(lg.count(src, amount <= SMALL_AMOUNT), n_out)
        cols["even_share" + sfx] = share(lg.count(src, even[s]), n_out)
        cols["below_threshold_count" + sfx] = lg.count(src, below[s])
        cols["night_share" + sfx] = share(lg.count(src, night[s]), n_out)
        cross = lg.cross_border[s]
        cols["cross_border_share" + sfx] = share(lg.count(src, cross), n_out)
        cols["in_cross_border_share" + sfx] = share(lg.count(dst, cross), n_in)
        risky = lg.high_risk_dst[s] & cross
        n_risky = lg.count(src, risky)
        cols["high_risk_count" + sfx] = n_risky
        cols["high_risk_share" + sfx] = share(n_risky, n_out)
        cols["high_risk_sum" + sfx] = lg.count(src, np.where(risky, amount, 0.0))
        cols["high_risk_max" + sfx] = group_max(lg, src[risky], amount[risky])
        cols["cover_word_count" + sfx] = lg.count(src, lg.cover_word[s])
        channel = lg.channel[s]
        for code, name in enumerate(CHANNELS):
            cols[f"{name}_share{sfx}"] = share(lg.count(src, channel == code), n_out)
    return cols
