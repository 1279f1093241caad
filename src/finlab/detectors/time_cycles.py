"""Time-respecting cycles: money that goes round a ring of accounts and comes back where it
started, each payment after the previous one and carrying most of its value.

A cycle here is a path of payments a -> b -> ... -> a of 2 to `max_length` hops, all within
`max_days` of the first, each later than the one before, each between `amount_band` times the
previous amount (laundered money keeps most of its value, minus a fee per hop), and no account
visited twice. A static graph has countless cycles among friends who pay each other back; the
order in time and the kept amount are what make a cycle look like layering (AMLworld CYCLE).

The search is a breadth-first frontier expansion in numpy: outgoing payments are sorted by
(account, time); for every open path the candidate next payments of its last account are one
`searchsorted` window, expanded with `np.repeat`, then filtered on amount and revisits. Hubs (more
than `hub_degree` distinct counterparties, e.g. merchants), card and cash payments and payments
below `min_amount` are left out to keep it tractable; `max_frontier` bounds the memory (paths
are expanded in chunks of at most that many candidates and, if a level still holds more open
paths than that, the ones moving the least money are dropped).

An account scores log1p of the summed weight of the distinct cycles (by set of accounts) it lies
on, a cycle weighing its length minus one: long cycles are rarer by chance. Accounts on no cycle
score below every account on one (at most `chain_weight`), by the open chains of two or more
such hops that pass through them: money moved on in time, keeping its value, but not (yet) back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from finlab.detectors.base import DETECTORS, explanation
from finlab.detectors.graph_common import (
    DAY,
    GraphDetector,
    GraphParams,
    GraphResult,
    TimeIndex,
    account_positions,
    expand_bounds,
    flow_rows,
    format_accounts,
    ledger_of,
)
from finlab.schema import Dataset


@dataclass
class TimeCyclesResult(GraphResult):
    """Distinct time-respecting cycles (accounts and rows per cycle) and counts per account."""

    count: np.ndarray
    chains: np.ndarray
    nodes: np.ndarray
    rows: np.ndarray
    length: np.ndarray
    weight: np.ndarray
    truncated: int


@DETECTORS.register("time_cycles")
class TimeCycles(GraphDetector):
    """Time-respecting cycles: money comes back along later payments that keep most of it."""


    class Params(GraphParams):
        min_length: int = Field(2, ge=2, le=20, description="fewest hops of a cycle")
        max_length: int = Field(
            8, ge=2, le=20, description="most hops of a cycle (AMLworld / finlab cycles have "
                                        "3-8 accounts)")
        max_days: float = Field(
            45.0, gt=0, description="days from the first to the last payment of a cycle")
        amount_band: tuple[float, float] = Field(
            (0.5, 1.05), description="each payment is between these multiples of the previous "
                                     "one")
        min_amount: float = Field(
            200.0, ge=0, description="base-currency payments below this are not followed "
                                     "(small change among friends)")
        hub_degree: int = Field(
            50, ge=1, description="accounts with more distinct counterparties are not followed")
        chain_weight: float = Field(
            0.5, ge=0, le=0.69, description="accounts on no cycle score up to this by the open "
                                            "time-respecting chains (2+ hops) through them")
        max_frontier: int = Field(
            5_000_000, ge=1_000, description="bound on candidate and open paths held at once")

        @model_validator(mode="after")
        def _ordered(self):
            if self.min_length > self.max_length:
                raise ValueError("min_length is above max_length")
            if not 0 < self.amount_band[0] <= self.amount_band[1]:
                raise ValueError("amount_band must be (low, high) with 0 < low <= high")
            return self

    # --- the search ----------------------------------------------------------------------------

    def _rows(self, lg) -> np.ndarray:
        p = self.params
        rows = flow_rows(lg, exclude_channels=p.exclude_channels, hub_degree=p.hub_degree,
                         min_amount=p.min_amount, days=p.days)
        # only accounts that both pay and are paid can lie on a cycle
        n = lg.n_accounts
        both = (np.bincount(lg.src[rows], minlength=n) > 0) & (
            np.bincount(lg.dst[rows], minlength=n) > 0)
        return rows[both[lg.src[rows]] & both[lg.dst[rows]]]

    def _run(self, data: Dataset) -> TimeCyclesResult:
        p = self.params
        lg = ledger_of(data)
        rows = self._rows(lg)
        index = TimeIndex(lg, rows, "src", pad_days=p.max_days)
        window = int(p.max_days * DAY)
        low, high = p.amount_band

        # open paths: the payments so far (rows) and the accounts visited (nodes)
        path_rows = rows[:, None]
        nodes = np.stack([lg.src[rows], lg.dst[rows]], axis=1).astype(np.int32)
        found_nodes: list[np.ndarray] = []
        found_rows: list[np.ndarray] = []
        chains = np.zeros(lg.n_accounts)
        truncated = 0
        for hops in range(1, p.max_length):
            if path_rows.shape[0] == 0:
                break
            last = path_rows[:, -1]
            lo, hi = index.window(lg.dst[last], lg.t[last], lg.t[path_rows[:, 0]] + window)
            keep_parent, keep_next = [], []
            for a, b in _chunks(hi - lo, p.max_frontier):
                parent, pos = expand_bounds(lo[a:b], hi[a:b])
                parent += a
                nxt = index.rows[pos]
                prev = lg.amount[last[parent]]
                ok = (lg.amount[nxt] >= low * prev) & (lg.amount[nxt] <= high * prev)
                keep_parent.append(parent[ok])
                keep_next.append(nxt[ok])
            parent = np.concatenate(keep_parent)
            nxt = np.concatenate(keep_next)
            to = lg.dst[nxt]
            closes = to == nodes[parent, 0]
            if hops + 1 >= p.min_length and closes.any():
                found_nodes.append(nodes[parent[closes]])
                found_rows.append(np.concatenate(
                    [path_rows[parent[closes]], nxt[closes][:, None]], axis=1))
            if hops + 1 >= p.max_length:
                break
            go = ~closes & ~(nodes[parent] == to[:, None]).any(axis=1)
            parent, nxt = parent[go], nxt[go]
            if parent.size > p.max_frontier:  # drop the paths that move the least money
                truncated += parent.size - p.max_frontier
                top = np.sort(np.argpartition(-lg.amount[nxt], p.max_frontier)[: p.max_frontier])
                parent, nxt = parent[top], nxt[top]
            path_rows = np.concatenate([path_rows[parent], nxt[:, None]], axis=1)
            nodes = np.concatenate([nodes[parent], lg.dst[nxt][:, None].astype(np.int32)], axis=1)
            chains += np.bincount(nodes.ravel(), minlength=lg.n_accounts)  # open chains

        # distinct cycles by their set of accounts; padded to max_length with -1
        L = p.max_length
        pad_nodes = [np.pad(c, ((0, 0), (0, L - c.shape[1])), constant_values=-1)
                     for c in found_nodes]
        pad_rows = [np.pad(r, ((0, 0), (0, L - r.shape[1])), constant_values=-1)
                    for r in found_rows]
        cyc_nodes = np.concatenate(pad_nodes) if pad_nodes else np.zeros((0, L), np.int32)
        cyc_rows = np.concatenate(pad_rows) if pad_rows else np.zeros((0, L), np.int64)
        canon = np.sort(np.where(cyc_nodes < 0, np.iinfo(np.int32).max, cyc_nodes), axis=1)
        _, first = np.unique(canon, axis=0, return_index=True)
        first = np.sort(first)
        cyc_nodes, cyc_rows = cyc_nodes[first], cyc_rows[first]
        length = (cyc_nodes >= 0).sum(axis=1)
        weight = (length - 1).astype(np.float64)
        member = cyc_nodes >= 0
        total = np.bincount(cyc_nodes[member], weights=np.repeat(weight, length),
                            minlength=lg.n_accounts)
        count = np.bincount(cyc_nodes[member], minlength=lg.n_accounts)
        # accounts on no cycle rank below those on one, by the open chains through them
        open_rank = np.log1p(chains) / (np.log1p(chains.max()) if chains.max() > 0 else 1.0)
        score = np.where(total > 0, np.log1p(total), p.chain_weight * open_rank)
        return TimeCyclesResult(lg=lg, score=score, count=count, chains=chains, nodes=cyc_nodes,
                                rows=cyc_rows, length=length, weight=weight, truncated=truncated)

    def explain(self, data: Dataset, ids: Sequence, per_account: int = 3) -> pd.DataFrame:
        self.check_fitted()
        r = self._compute(data)
        lg = r.lg
        ids = np.asarray(ids, np.int64)
        pos, known = account_positions(lg, ids)
        out = ([], [], [], [])

        def add(i, reason, value, weight):
            for col, v in zip(out, (i, reason, value, weight)):
                col.append(v)

        for aid, a, ok in zip(ids, pos, known):
            if not ok or r.count[a] == 0:
                add(aid, "on no time-respecting cycle", 0.0, 0.0)
                if ok and r.chains[a] > 0:
                    add(aid, f"on {int(r.chains[a])} open time-respecting chains of 2 or "
                        "more hops", float(r.chains[a]), float(r.score[a]))
                continue
            add(aid, f"on {int(r.count[a])} distinct time-respecting cycles",
                float(r.count[a]), float(np.expm1(r.score[a])))
            mine = np.flatnonzero((r.nodes == a).any(axis=1))
            mine = mine[np.argsort(-r.weight[mine], kind="stable")][:per_account]
            for c in mine:
                L = int(r.length[c])
                rows = r.rows[c, :L]
                days = (lg.t[rows[-1]] - lg.t[rows[0]]) / DAY
                add(aid, f"on a time-respecting cycle of length {L} with accounts "
                    f"{format_accounts(lg, list(r.nodes[c, :L]), limit=8)} moving "
                    f"{lg.amount[rows[0]]:,.0f} over {days:.1f} days",
                    float(L), float(r.weight[c]))
        return explanation(*out)


def _chunks(counts: np.ndarray, budget: int):
    """Consecutive ranges [a, b) of items whose summed counts stay within `budget` (an item
    with more than the budget alone forms its own range)."""
    n = counts.size
    if n == 0:
        return
    cum = np.cumsum(counts)
    a = 0
    while a < n:
        base = cum[a - 1] if a else 0
        b = int(np.searchsorted(cum, base + budget, side="right"))
        b = max(b, a + 1)
        yield a, b
        a = b
