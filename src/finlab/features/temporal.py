"""Timing of payments: periodicity of inter-arrival times, escalation (amounts rising and gaps
shrinking with each payment, CS08) and pass-through (money out soon after money in)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from finlab.features.activity import share
from finlab.features.groups import FEATURE_GROUPS
from finlab.features.ledger import DAY, Ledger

PASS_THROUGH_DAYS = 2  # money out within this many days after money in counts as passed through


def rank_within(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """0-based rank of each value within its group, ties sharing their average rank (so the
    result does not depend on row order)."""
    order = np.lexsort((values, group))
    g, v = group[order], values[order]
    n = g.size
    new_group = np.r_[True, g[1:] != g[:-1]] if n else np.zeros(0, bool)
    new_run = new_group | np.r_[True, v[1:] != v[:-1]] if n else new_group
    position = np.arange(n)
    group_start = np.maximum.accumulate(np.where(new_group, position, 0)) if n else position
    run_id = np.cumsum(new_run) - 1
    run_first = position[new_run]
    run_last = np.r_[run_first[1:], n] - 1
    mean_position = (run_first + run_last) / 2.0
    rank = np.empty(n, np.float64)
    rank[order] = mean_position[run_id] - group_start
    return rank


def group_corr(lg: Ledger, group: np.ndarray, x: np.ndarray, y: np.ndarray,
               min_rows: int = 3) -> np.ndarray:
    """Pearson correlation of x and y within each account (0 with fewer than min_rows rows or
    no variance); on ranks it is Spearman's rank correlation."""
    n = lg.count(group)
    sx, sy = lg.count(group, x), lg.count(group, y)
    sxy, sxx, syy = lg.count(group, x * y), lg.count(group, x * x), lg.count(group, y * y)
    cov = sxy - share(sx * sy, n)
    vx, vy = sxx - share(sx * sx, n), syy - share(sy * sy, n)
    denom = np.sqrt(np.maximum(vx, 0) * np.maximum(vy, 0))
    ok = (n >= min_rows) & (denom > 1e-9)
    return np.where(ok, share(cov, np.where(ok, denom, 0)), 0.0)


def timing(lg: Ledger, who: np.ndarray, t: np.ndarray, amount: np.ndarray, prefix: str,
           sfx: str) -> dict[str, np.ndarray]:
    """Gap regularity and escalation of one set of payments (rows in time order)."""
    order = np.argsort(who, kind="stable")  # grouped by account, time order kept inside
    w, tt, a = who[order], t[order].astype(np.float64), amount[order]
    same = w[1:] == w[:-1]
    gap_owner, gap = w[1:][same], (tt[1:] - tt[:-1])[same] / DAY
    n_gaps = lg.count(gap_owner)
    mean = share(lg.count(gap_owner, gap), n_gaps)
    var = share(lg.count(gap_owner, gap * gap), n_gaps) - mean**2
    cv = share(np.sqrt(np.maximum(var, 0)), mean)
    time_rank = rank_within(w, tt)
    gap_index = rank_within(gap_owner, np.arange(gap.size, dtype=np.float64))
    return {
        f"{prefix}_gap_cv{sfx}": np.where(n_gaps >= 2, cv, 0.0),
        f"{prefix}_escalation{sfx}": group_corr(lg, w, time_rank, rank_within(w, a)),
        f"{prefix}_gap_trend{sfx}": group_corr(lg, gap_owner, gap_index,
                                               rank_within(gap_owner, gap)),
    }


def last_incoming(lg: Ledger) -> np.ndarray:
    """For each transaction, when its payer last received money strictly before it (or -1)."""
    n = lg.t.size
    account = np.r_[lg.dst, lg.src].astype(np.int64)
    t = np.r_[lg.t, lg.t]
    is_in = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    # group by account, then time; at equal times the payment out comes first (strictly before)
    order = np.argsort(account << 35 | t.astype(np.int64) << 1 | is_in)
    acc_sorted = account[order]
    value = np.where(is_in[order], t[order] + 1, 0)  # +1 so that 0 means "none yet"
    scale = np.int64(1) << 33
    running = np.maximum.accumulate(acc_sorted * scale + value) - acc_sorted * scale
    seen = np.empty(2 * n, np.int64)
    seen[order] = running
    return seen[n:] - 1


@FEATURE_GROUPS.register("temporal")
def temporal(lg: Ledger, windows: Sequence[int]) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    last_in = last_incoming(lg)
    passed = (last_in >= 0) & (lg.t - last_in <= PASS_THROUGH_DAYS * DAY)
    for w in windows:
        s = slice(lg.since(w), None)
        out_sum = lg.count(lg.src[s], lg.amount[s])
        in_sum = lg.count(lg.dst[s], lg.amount[s])
        cols[f"pass_through_share_{w}d"] = share(
            lg.count(lg.src[s], np.where(passed[s], lg.amount[s], 0.0)), out_sum)
        cols[f"flow_ratio_{w}d"] = share(np.minimum(in_sum, out_sum), np.maximum(in_sum, out_sum))
    longest = max(windows)
    s = slice(lg.since(longest), None)
    cross = lg.cross_border[s]
    src, t, amount = lg.src[s], lg.t[s], lg.amount[s]
    cols.update(timing(lg, src, t, amount, "out", f"_{longest}d"))
    cols.update(timing(lg, src[cross], t[cross], amount[cross], "cross_border", f"_{longest}d"))
    return cols
