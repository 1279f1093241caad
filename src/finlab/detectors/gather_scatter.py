"""Gather-scatter: many sources pay one hub account, which soon pays the money on to many sinks
(AMLworld GATHER-SCATTER).

Every payment into an account is an anchor: the account's distinct sources over the
`window_days` up to it and its distinct sinks over the `window_days` after it are found with
`searchsorted` windows on payments sorted by (account, time) and expanded with `np.repeat`. The
anchor scores min(sources, sinks) times the pass-through of the money (the smaller of the
amounts in and out over the larger), and an account scores its best anchor. Only *new*
counterparties count: pairs that made at most `max_pair_payments` payments in the data, because a
business with regular customers and suppliers shows the same shape every month. Hubs (e.g.
merchants), card and cash payments, family transfers and payments below `min_amount` are left
out. The sources and sinks of an anchor score `counterpart_weight` times its score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import Field

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


@dataclass
class GatherScatterResult(GraphResult):
    """Hubs, their counterparts and the candidate payments of each hub."""

    hub_score: np.ndarray
    hub_anchor: np.ndarray
    side_score: np.ndarray
    side_anchor: np.ndarray
    rows: np.ndarray
    n_src: np.ndarray
    n_snk: np.ndarray
    amount_in: np.ndarray
    amount_out: np.ndarray
    through: np.ndarray
    a_in: np.ndarray
    r_in: np.ndarray
    a_out: np.ndarray
    r_out: np.ndarray


@DETECTORS.register("gather_scatter")
class GatherScatter(GraphDetector):
    """Gather-scatter: an account paid by many new sources soon pays many new sinks."""


    class Params(GraphParams):
        window_days: float = Field(
            10.0, gt=0, description="days of sources before, and of sinks after, an incoming "
                                    "payment")
        max_pair_payments: int = Field(
            2, ge=1, description="a counterparty counts only if the pair made at most this many "
                                 "payments in the data (regular partners are ordinary business)")
        min_amount: float = Field(
            500.0, ge=0, description="base-currency payments below this are left out")
        hub_degree: int = Field(
            50, ge=1, description="accounts with more distinct counterparties are left out")
        counterpart_weight: float = Field(
            0.8, ge=0, le=1, description="sources and sinks score this times the hub's window")

    def _run(self, data: Dataset) -> GatherScatterResult:
        p = self.params
        lg = ledger_of(data)
        n = lg.n_accounts
        rows = flow_rows(lg, exclude_channels=p.exclude_channels, hub_degree=p.hub_degree,
                         min_amount=p.min_amount, days=p.days, unrelated=True)
        # new counterparties only: pairs with few payments over the whole data
        pair = lg.src[rows].astype(np.int64) * n + lg.dst[rows]
        _, inv, cnt = np.unique(pair, return_inverse=True, return_counts=True)
        rows = rows[cnt[inv] <= p.max_pair_payments]

        w = int(p.window_days * DAY)
        inbound = TimeIndex(lg, rows, "dst", pad_days=p.window_days)
        outbound = TimeIndex(lg, rows, "src", pad_days=p.window_days)
        hub, t = lg.dst[rows], lg.t[rows]
        lo, hi = inbound.window(hub, t - w, t, include_start=True)
        a_in, pos_in = expand_bounds(lo, hi)
        r_in = inbound.rows[pos_in]
        lo, hi = outbound.window(hub, t, t + w)
        a_out, pos_out = expand_bounds(lo, hi)
        r_out = outbound.rows[pos_out]

        def distinct(anchor, who):
            a, _ = distinct_pairs(anchor.astype(np.int64), who.astype(np.int64))
            return np.bincount(a, minlength=rows.size)

        n_src = distinct(a_in, lg.src[r_in])
        n_snk = distinct(a_out, lg.dst[r_out])
        amount_in = np.bincount(a_in, lg.amount[r_in], rows.size)
        amount_out = np.bincount(a_out, lg.amount[r_out], rows.size)
        through = np.minimum(amount_in, amount_out) / np.maximum(
            np.maximum(amount_in, amount_out), 1e-9)
        value = np.minimum(n_src, n_snk) * through

        hub_score, hub_anchor = best_per_account(hub.astype(np.int64), value, n)
        # sources and sinks of an anchor take part of its value
        who = np.concatenate([lg.src[r_in], lg.dst[r_out]]).astype(np.int64)
        anchor = np.concatenate([a_in, a_out])
        side_score, side_anchor = best_per_account(who, p.counterpart_weight * value[anchor], n)
        some = side_anchor >= 0
        side_anchor[some] = anchor[side_anchor[some]]
        score = np.maximum(hub_score, side_score)
        return GatherScatterResult(lg=lg, score=score, hub_score=hub_score, hub_anchor=hub_anchor,
                                   side_score=side_score, side_anchor=side_anchor, rows=rows,
                                   n_src=n_src, n_snk=n_snk, amount_in=amount_in,
                                   amount_out=amount_out, through=through, a_in=a_in, r_in=r_in,
                                   a_out=a_out, r_out=r_out)

    def _window_text(self, r: dict, j: int) -> str:
        lg = r.lg
        srcs = np.unique(lg.src[r.r_in[r.a_in == j]])
        snks = np.unique(lg.dst[r.r_out[r.a_out == j]])
        return (f"{int(r.n_src[j])} new sources ({format_accounts(lg, list(srcs), 4)}) "
                f"paid {r.amount_in[j]:,.0f} within {self.params.window_days:g} days before "
                f"it paid {r.amount_out[j]:,.0f} to {int(r.n_snk[j])} new sinks "
                f"({format_accounts(lg, list(snks), 4)}), {r.through[j]:.0%} passed through")

    def explain(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        self.check_fitted()
        r = self._compute(data)
        lg = r.lg
        ids = np.asarray(ids, np.int64)
        pos, known = account_positions(lg, ids)
        out_ids, reasons, values, weights = [], [], [], []
        for aid, a, ok in zip(ids, pos, known):
            if not ok or r.score[a] <= 0:
                out_ids.append(aid), reasons.append("in no gather-scatter window")
                values.append(0.0), weights.append(0.0)
                continue
            if r.hub_score[a] > 0:
                j = int(r.hub_anchor[a])
                out_ids.append(aid), reasons.append("hub: " + self._window_text(r, j))
                values.append(float(min(r.n_src[j], r.n_snk[j])))
                weights.append(float(r.hub_score[a]))
            if r.side_score[a] > 0:
                j = int(r.side_anchor[a])
                h = int(lg.dst[r.rows[j]])
                out_ids.append(aid)
                reasons.append(f"pays or is paid by hub {format_accounts(lg, [h])}: "
                               + self._window_text(r, j))
                values.append(float(min(r.n_src[j], r.n_snk[j])))
                weights.append(float(r.side_score[a]))
        return explanation(out_ids, reasons, values, weights)
