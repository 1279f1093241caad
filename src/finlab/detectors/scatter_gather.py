"""Scatter-gather: a source splits money over several intermediaries who each pass it on to the
same sink shortly after (A -> {m_1..m_k} -> B, AMLworld SCATTER-GATHER).

Every two-hop path A -> m -> B is time-respecting: m pays B after A paid m, within `max_days`,
and forwards between `amount_band` times what it received (an intermediary keeps a small cut).
The paths are found for all payments at once with a `searchsorted` window on m's outgoing
payments sorted by (account, time), expanded with `np.repeat`; distinct (A, B, m) triples are
then counted per (A, B) pair. A pair reached through at least `min_intermediaries` distinct
intermediaries is a scatter-gather; its source, sink and intermediaries each score the number
of intermediaries (the largest over the patterns they are part of). Hubs (e.g. merchants), card
and cash payments and payments below `min_amount` are left out: a shop's customers paying the
same utility are not a laundering pattern.
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
    best_per_account,
    distinct_pairs,
    expand_bounds,
    flow_rows,
    format_accounts,
    ledger_of,
)
from finlab.schema import Dataset


def two_hop_paths(lg, rows: np.ndarray, max_days: float,
                  amount_band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """All time-respecting two-hop paths over `rows`: pairs of ledger rows (first, second) where
    the payee of `first` makes `second` after it, within `max_days`, with an amount between
    `amount_band` times the first's."""
    index = TimeIndex(lg, rows, "src", pad_days=max_days)
    mid = lg.dst[rows]
    lo, hi = index.window(mid, lg.t[rows], lg.t[rows] + int(max_days * DAY))
    parent, pos = expand_bounds(lo, hi)
    first, second = rows[parent], index.rows[pos]
    a1, a2 = lg.amount[first], lg.amount[second]
    ok = (a2 >= amount_band[0] * a1) & (a2 <= amount_band[1] * a1)
    ok &= lg.src[first] != lg.dst[second]
    return first[ok], second[ok]


@dataclass
class ScatterGatherResult(GraphResult):
    """Scatter-gather patterns (source, sink, intermediaries) and each account's best one."""

    pattern: np.ndarray
    role: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    n_intermediaries: np.ndarray
    t_pat: np.ndarray
    t_mid: np.ndarray
    n_patterns: np.ndarray


@DETECTORS.register("scatter_gather")
class ScatterGather(GraphDetector):
    """Scatter-gather: a source pays intermediaries who all forward to one sink soon after."""


    class Params(GraphParams):
        min_intermediaries: int = Field(
            3, ge=2, description="distinct intermediaries between a source and a sink")
        max_days: float = Field(
            14.0, gt=0, description="days from a payment into an intermediary to its payment "
                                    "on to the sink")
        amount_band: tuple[float, float] = Field(
            (0.5, 1.05), description="an intermediary forwards between these multiples of what "
                                     "it received")
        min_amount: float = Field(
            500.0, ge=0, description="base-currency payments below this are not followed")
        hub_degree: int = Field(
            50, ge=1, description="accounts with more distinct counterparties are left out")

        @model_validator(mode="after")
        def _band(self):
            if not 0 < self.amount_band[0] <= self.amount_band[1]:
                raise ValueError("amount_band must be (low, high) with 0 < low <= high")
            return self

    def _run(self, data: Dataset) -> ScatterGatherResult:
        p = self.params
        lg = ledger_of(data)
        n = lg.n_accounts
        rows = flow_rows(lg, exclude_channels=p.exclude_channels, hub_degree=p.hub_degree,
                         min_amount=p.min_amount, days=p.days)
        first, second = two_hop_paths(lg, rows, p.max_days, p.amount_band)
        A = lg.src[first].astype(np.int64)
        M = lg.dst[first].astype(np.int64)
        B = lg.dst[second].astype(np.int64)
        pair, mid = distinct_pairs(A * n + B, M)  # distinct (source, sink), intermediary
        pairs, inv, k = np.unique(pair, return_inverse=True, return_counts=True)
        hit = k >= p.min_intermediaries
        pat_src, pat_dst, pat_k = pairs[hit] // n, pairs[hit] % n, k[hit]
        t_hit = hit[inv]
        t_pat = np.cumsum(hit)[inv[t_hit]] - 1  # pattern index of each kept triple
        t_mid = mid[t_hit]
        # each account: the pattern with most intermediaries it takes part in
        who = np.concatenate([pat_src, pat_dst, t_mid])
        pat = np.concatenate([np.arange(pat_k.size), np.arange(pat_k.size), t_pat])
        role = np.repeat(np.array([0, 1, 2]), [pat_k.size, pat_k.size, t_mid.size])
        score, where = best_per_account(who, pat_k[pat].astype(np.float64), n)
        some = where >= 0
        pattern = np.full(n, -1, np.int64)
        pattern[some] = pat[where[some]]
        best_role = np.full(n, -1, np.int64)
        best_role[some] = role[where[some]]
        return ScatterGatherResult(lg=lg, score=score, pattern=pattern, role=best_role, src=pat_src,
                                   dst=pat_dst, n_intermediaries=pat_k, t_pat=t_pat, t_mid=t_mid,
                                   n_patterns=np.bincount(who, minlength=n))

    def explain(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        self.check_fitted()
        r = self._compute(data)
        lg = r.lg
        days = f"{self.params.max_days:g}"
        ids = np.asarray(ids, np.int64)
        pos, known = account_positions(lg, ids)
        out_ids, reasons, values, weights = [], [], [], []
        for aid, a, ok in zip(ids, pos, known):
            j = int(r.pattern[a]) if ok else -1
            if j < 0:
                out_ids.append(aid), reasons.append("in no scatter-gather pattern")
                values.append(0.0), weights.append(0.0)
                continue
            s, d, k = int(r.src[j]), int(r.dst[j]), int(r.n_intermediaries[j])
            mids = list(r.t_mid[r.t_pat == j])
            role = int(r.role[a])
            if role == 0:
                text = (f"source of a scatter-gather: paid {k} intermediaries "
                        f"({format_accounts(lg, mids)}) who each paid {format_accounts(lg, [d])} "
                        f"within {days} days")
            elif role == 1:
                text = (f"sink of a scatter-gather: paid by {k} intermediaries "
                        f"({format_accounts(lg, mids)}) within {days} days of their being paid "
                        f"by {format_accounts(lg, [s])}")
            else:
                others = [m for m in mids if m != a]
                text = (f"intermediary of a scatter-gather from {format_accounts(lg, [s])} to "
                        f"{format_accounts(lg, [d])}, with {format_accounts(lg, others)}")
            out_ids.append(aid), reasons.append(text), values.append(float(k))
            weights.append(float(r.score[a]))
            extra = int(r.n_patterns[a]) - 1
            if extra > 0:
                out_ids.append(aid), reasons.append(f"in {extra} more scatter-gather patterns")
                values.append(float(extra)), weights.append(float(r.score[a]) / 2)
        return explanation(out_ids, reasons, values, weights)
