"""Graph patterns through each payment, from the payments visible to it (see payments.py):
scatter-gather and gather-scatter siblings, time-respecting cycles the payment closes, and
pass-through (money received and paid on at a similar amount within hours).

Every pattern is a bounded join on the per-account timelines: each step keeps at most `CAP` of
an account's most recent payments in the window, so hubs (merchants, payroll accounts) cannot
blow up the work, and queries run in blocks so memory stays bounded.
"""

from __future__ import annotations

import numpy as np

from finlab.features.ledger import DAY
from finlab.features.timeline import Timeline, expand

#: patterns are looked for within a day of the payment (as the published graph features do)
PATTERN_WINDOW = DAY
PASS_THROUGH_WINDOW = DAY
PASS_THROUGH_RATIO = (0.7, 1.02)  # paid on: 70% to 102% of what came in (fees, splits)
MAX_CYCLE = 6
CAP = 12  # most recent payments per account and step
FRONTIER = 24  # accounts a cycle search keeps per payment and step (earliest arrivals)
BLOCK = 500_000  # payments per block of joins

PATTERN_COLUMNS = [
    "gather_siblings", "scatter_siblings", "gather_scatter_payer", "gather_scatter_payee",
    *[f"cycle_{k}" for k in range(2, MAX_CYCLE + 1)], "cycle_shortest",
    "pass_through_in", "pass_through_on",
]


class Graph:
    """The ledger's payments as timelines by payer, by payee and by pair."""

    def __init__(self, view):
        lg = view.ledger
        self.view, self.src, self.dst, self.t, self.amount = view, lg.src, lg.dst, lg.t, lg.amount
        self.n_accounts = lg.n_accounts
        self.out = Timeline(lg.src, lg.t)
        self.inn = Timeline(lg.dst, lg.t)
        self.pairs = Timeline(self.pair(lg.src, lg.dst), lg.t)
        self.upper = view.upper()
        self.lower = lg.t - PATTERN_WINDOW

    def pair(self, a, b):
        return a.astype(np.int64) * self.n_accounts + b

    def neighbours(self, timeline: Timeline, other: np.ndarray, who, lo, hi):
        """(query, neighbour, time) of each query's payments in [lo, hi), at most CAP each."""
        left, right = timeline.bounds(who, lo, hi)
        q, pos = expand(left, right, CAP)
        event = timeline.order[pos]
        return q, other[event], self.t[event]

    def paid(self, a, b, lo, hi) -> np.ndarray:
        """Whether a paid b in [lo, hi)."""
        left, right = self.pairs.bounds(self.pair(a, b), lo, hi)
        return right > left


def pattern_features(view) -> dict[str, np.ndarray]:
    g = Graph(view)
    n = view.n
    out = {c: np.zeros(n, np.float32) for c in PATTERN_COLUMNS}  # counts: exact in float32
    for start in range(0, n, BLOCK):
        idx = np.arange(start, min(n, start + BLOCK))
        out["gather_siblings"][idx] = siblings(g, idx, gather=True)
        out["scatter_siblings"][idx] = siblings(g, idx, gather=False)
        closed = cycles(g, idx)
        for k in range(2, MAX_CYCLE + 1):
            out[f"cycle_{k}"][idx] = closed[k]
        pin, pon = pass_through(g, idx)
        out["pass_through_in"][idx], out["pass_through_on"][idx] = pin, pon
    lo, up = g.t - PATTERN_WINDOW, g.upper
    degree = {}
    for name, tl, who, other in (("src_in", g.inn, g.src, g.src), ("src_out", g.out, g.src, g.dst),
                                 ("dst_in", g.inn, g.dst, g.src), ("dst_out", g.out, g.dst, g.dst)):
        left, right = tl.bounds(who, lo, up)
        degree[name] = (right - left).astype(np.float64)
    own = 1.0 if view.mode == "window" else 0.0
    out["gather_scatter_payer"] = np.minimum(degree["src_in"], degree["src_out"] - own)
    out["gather_scatter_payee"] = np.minimum(degree["dst_in"] - own, degree["dst_out"])
    found = np.stack([out[f"cycle_{k}"] > 0 for k in range(2, MAX_CYCLE + 1)], axis=1)
    out["cycle_shortest"] = np.where(found.any(axis=1), found.argmax(axis=1) + 2, 0)
    return out


def siblings(g: Graph, idx: np.ndarray, gather: bool) -> np.ndarray:
    """Other accounts that play the same part in a scatter-gather as this payment's end.

    Gather leg u->v: accounts m != u paid by one of u's payers s and paying v themselves.
    Scatter leg u->v: accounts m != v paid by u and paying one of v's payees x."""
    src, dst, lo, hi = g.src[idx], g.dst[idx], g.lower[idx], g.upper[idx]
    if gather:  # payers s of u, then the payees m of s, then: did m pay v?
        q1, s, _ = g.neighbours(g.inn, g.src, src, lo, hi)
        q2, m, _ = g.neighbours(g.out, g.dst, s, lo[q1], hi[q1])
        q = q1[q2]
        ok = (m != src[q]) & g.paid(m, dst[q], lo[q], hi[q])
    else:  # payees x of v, then the payers m of x, then: did u pay m?
        q1, x, _ = g.neighbours(g.out, g.dst, dst, lo, hi)
        q2, m, _ = g.neighbours(g.inn, g.src, x, lo[q1], hi[q1])
        q = q1[q2]
        ok = (m != dst[q]) & g.paid(src[q], m, lo[q], hi[q])
    return distinct_count(q[ok], m[ok], idx.size)


def distinct_count(q: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    if q.size == 0:
        return np.zeros(n)
    key = np.unique(q.astype(np.int64) * (int(value.max()) + 1) + value)
    return np.bincount(key // (int(value.max()) + 1), minlength=n).astype(np.float64)


def cycles(g: Graph, idx: np.ndarray) -> dict[int, np.ndarray]:
    """Per length k (2..MAX_CYCLE): whether a time-respecting path v -> ... -> u of k-1 payments
    within the pattern window closes a cycle with the payment u -> v. The search keeps, per payment
    and account, the earliest arrival (enough to decide whether a later step can follow)."""
    src, dst, lo, hi = g.src[idx], g.dst[idx], g.lower[idx], g.upper[idx]
    closed = {k: np.zeros(idx.size) for k in range(2, MAX_CYCLE + 1)}
    q = np.arange(idx.size)
    node, arrive = dst.copy(), lo - 1
    for k in range(2, MAX_CYCLE + 1):
        q1, nxt, when = g.neighbours(g.out, g.dst, node, arrive + 1, hi[q])
        q_all = q[q1]
        hit = nxt == src[q_all]
        closed[k][np.unique(q_all[hit])] = 1.0
        keep = ~hit & (nxt != dst[q_all])
        q_all, nxt, when = q_all[keep], nxt[keep], when[keep]
        if q_all.size == 0:
            break
        # earliest arrival per (payment, account), then at most FRONTIER accounts per payment
        order = np.lexsort((when, nxt, q_all))
        q_all, nxt, when = q_all[order], nxt[order], when[order]
        first = np.r_[True, (q_all[1:] != q_all[:-1]) | (nxt[1:] != nxt[:-1])]
        q_all, nxt, when = q_all[first], nxt[first], when[first]
        rank = np.arange(q_all.size) - np.searchsorted(q_all, q_all, side="left")
        keep = rank < FRONTIER
        q, node, arrive = q_all[keep], nxt[keep], when[keep]
    return closed


def pass_through(g: Graph, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Payments received by the payer within a day before this one whose amount this payment
    passes on (70-102% of it); and payments the payee makes within the visible time after it
    that pass this one on (none in strict mode, which sees nothing after)."""
    src, dst, t, amount = g.src[idx], g.dst[idx], g.t[idx], g.amount[idx]
    lo_r, hi_r = PASS_THROUGH_RATIO
    q, _, _ = g.neighbours(g.inn, g.src, src, t - PASS_THROUGH_WINDOW, t)
    got = g.amount[g.inn.order[_positions(g.inn, src, t - PASS_THROUGH_WINDOW, t)]]
    ratio = amount[q] / np.maximum(got, 1e-9)
    pin = np.bincount(q[(ratio >= lo_r) & (ratio <= hi_r)], minlength=idx.size)
    upper = np.minimum(g.upper[idx], t + PASS_THROUGH_WINDOW + 1)
    q2 = _positions(g.out, dst, t + 1, upper, queries=True)
    sent = g.amount[g.out.order[_positions(g.out, dst, t + 1, upper)]]
    ratio_on = sent / np.maximum(amount[q2], 1e-9)
    pon = np.bincount(q2[(ratio_on >= lo_r) & (ratio_on <= hi_r)], minlength=idx.size)
    return pin.astype(np.float64), pon.astype(np.float64)


def _positions(tl: Timeline, who, lo, hi, queries: bool = False) -> np.ndarray:
    left, right = tl.bounds(who, lo, hi)
    q, pos = expand(left, right, CAP)
    return q if queries else pos
