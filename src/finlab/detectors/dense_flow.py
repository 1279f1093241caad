"""Dense flow (FlowScope-like): source -> middle -> sink blocks where the middle accounts pass
on most of what they receive, soon after receiving it.

For every payment into an account, the money the account pays out over the next `max_days` is
one window sum (outgoing payments sorted by (account, time), cumulative sums, `searchsorted`);
the payment counts as forwarded up to that sum. A middle's pass-through is its forwarded money
(at most what it paid out) over all it received, and it scores pass-through times
log1p(forwarded / `flow_unit`): high when much money goes straight through. As in FlowScope the
flows that matter are the unusual ones: only payments between accounts that made at most
`max_pair_payments` payments to each other count as forwarded in or out (a business paying its
regular suppliers from its regular customers' money is ordinary), and family transfers, card and
cash payments and hubs are left out. The accounts that pay a middle and those it pays take
`propagate` times its score, scaled by the share of their own outgoing (or incoming) money that
went through it, so whole source -> middle -> sink blocks rank high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from finlab.detectors.base import DETECTORS, explanation
from finlab.detectors.graph_common import (
    DAY,
    GraphDetector,
    GraphParams,
    GraphResult,
    TimeIndex,
    account_positions,
    flow_rows,
    format_accounts,
    ledger_of,
)
from finlab.schema import Dataset


@dataclass
class DenseFlowResult(GraphResult):
    """Pass-through per account and the flow matrix its explanations read."""

    mid_score: np.ndarray
    ratio: np.ndarray
    through: np.ndarray
    received: np.ndarray
    payer: np.ndarray
    payer_of: np.ndarray
    payee: np.ndarray
    payee_of: np.ndarray
    flow: sp.csr_matrix


@DETECTORS.register("dense_flow")
class DenseFlow(GraphDetector):
    """Dense flow (FlowScope-like): accounts passing on most of what they get, and their partners."""


    class Params(GraphParams):
        max_days: float = Field(
            7.0, gt=0, description="days after a payment in during which money paid out counts "
                                   "as passed through")
        max_pair_payments: int = Field(
            4, ge=1, description="only pairs with at most this many payments in the data count "
                                 "(regular partners are ordinary business)")
        flow_unit: float = Field(
            1000.0, gt=0, description="base-currency unit of the log flow term")
        propagate: float = Field(
            0.5, ge=0, le=1, description="share of a middle's score passed to its payers and "
                                         "payees (times their flow share)")
        hub_degree: int = Field(
            50, ge=1, description="accounts with more distinct counterparties are left out")

    def _run(self, data: Dataset) -> DenseFlowResult:
        p = self.params
        lg = ledger_of(data)
        n = lg.n_accounts
        rows = flow_rows(lg, exclude_channels=p.exclude_channels, hub_degree=p.hub_degree,
                         days=p.days, unrelated=True)
        received = np.bincount(lg.dst[rows], lg.amount[rows], n)
        pair = lg.src[rows].astype(np.int64) * n + lg.dst[rows]
        _, inv, cnt = np.unique(pair, return_inverse=True, return_counts=True)
        rows = rows[cnt[inv] <= p.max_pair_payments]

        out = TimeIndex(lg, rows, "src", pad_days=p.max_days)
        cum = np.r_[0.0, np.cumsum(lg.amount[out.rows])]
        mid, t, a = lg.dst[rows], lg.t[rows], lg.amount[rows]
        lo, hi = out.window(mid, t, t + int(p.max_days * DAY))
        forwarded = np.minimum(a, cum[hi] - cum[lo])
        paid = np.bincount(lg.src[rows], lg.amount[rows], n)
        through = np.minimum(np.bincount(mid, forwarded, n), paid)
        ratio = np.divide(through, received, out=np.zeros(n), where=received > 0)
        ratio = np.minimum(ratio, 1.0)
        mid_score = ratio * np.log1p(through / p.flow_unit)

        # payers and payees of a middle: its score times their share of money through it
        F = sp.csr_matrix((lg.amount[rows], (lg.src[rows], lg.dst[rows])), shape=(n, n))
        F.sum_duplicates()
        out_sum = np.asarray(F.sum(axis=1)).ravel()
        in_sum = np.asarray(F.sum(axis=0)).ravel()
        to_mid = (sp.diags(1.0 / np.maximum(out_sum, 1e-9)) @ F @ sp.diags(mid_score)).tocsr()
        from_mid = (sp.diags(mid_score) @ F @ sp.diags(1.0 / np.maximum(in_sum, 1e-9))).tocsc()
        payer = to_mid.max(axis=1).toarray().ravel() if n else np.zeros(0)
        payer_of = np.asarray(to_mid.argmax(axis=1)).ravel() if n else np.zeros(0, np.int64)
        payee = from_mid.max(axis=0).toarray().ravel() if n else np.zeros(0)
        payee_of = np.asarray(from_mid.argmax(axis=0)).ravel() if n else np.zeros(0, np.int64)
        score = np.maximum(mid_score, p.propagate * np.maximum(payer, payee))
        return DenseFlowResult(lg=lg, score=score, mid_score=mid_score, ratio=ratio,
                               through=through, received=received, payer=p.propagate * payer,
                               payer_of=payer_of, payee=p.propagate * payee, payee_of=payee_of,
                               flow=F.tocsr())

    def explain(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        self.check_fitted()
        r = self._compute(data)
        lg, flow = r.lg, r.flow
        days = f"{self.params.max_days:g}"
        ids = np.asarray(ids, np.int64)
        pos, known = account_positions(lg, ids)
        out_ids, reasons, values, weights = [], [], [], []
        for aid, a, ok in zip(ids, pos, known):
            if not ok or r.score[a] <= 0:
                out_ids.append(aid), reasons.append("passes little money through")
                values.append(0.0), weights.append(0.0)
                continue
            if r.mid_score[a] > 0:
                out_ids.append(aid)
                reasons.append(f"passed on {r.through[a]:,.0f} within {days} days of "
                               f"receiving it ({r.ratio[a]:.0%} of the "
                               f"{r.received[a]:,.0f} it received)")
                values.append(float(r.ratio[a])), weights.append(float(r.mid_score[a]))
            if r.payer[a] > 0:
                m = int(r.payer_of[a])
                out_ids.append(aid)
                reasons.append(f"paid {flow[a, m]:,.0f} to {format_accounts(lg, [m])}, which "
                               f"passed on {r.ratio[m]:.0%} of what it received")
                values.append(float(flow[a, m])), weights.append(float(r.payer[a]))
            if r.payee[a] > 0:
                m = int(r.payee_of[a])
                out_ids.append(aid)
                reasons.append(f"was paid {flow[m, a]:,.0f} by {format_accounts(lg, [m])}, which "
                               f"passed on {r.ratio[m]:.0%} of what it received")
                values.append(float(flow[m, a])), weights.append(float(r.payee[a]))
        return explanation(out_ids, reasons, values, weights)
