"""Shared beneficiary (CS05): one facilitator paid by many unrelated senders across banks and
countries, and the senders who pay such facilitators.

A facilitator of online child sexual exploitation is paid by 5-40 senders who share no family
link with it or with each other, at many banks and from several countries, mostly in small
cross-border amounts (CS01, CS02, CS05). A family remittance looks similar per payment but comes
from relatives (one household), a shop is paid by card: both are left out. Each beneficiary
scores by its effective number of unrelated sender households (a household paying it small
cross-border amounts counts `1 + cross_border_weight`), times the diversity of the senders'
banks and countries. Each sender then scores by the strongest beneficiary it pays, scaled by the
share of its payments that go there, so the facilitator ranks first and its senders right after.
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
    GraphDetector,
    GraphParams,
    GraphResult,
    account_positions,
    channel_rows,
    format_accounts,
    ledger_of,
)
from finlab.schema import Dataset


@dataclass
class SharedBeneficiaryResult(GraphResult):
    """Beneficiary and sender scores with the counts their explanations quote."""

    ben_score: np.ndarray
    snd_score: np.ndarray
    best: np.ndarray
    share: sp.csr_matrix
    senders: np.ndarray
    effective: np.ndarray
    small_cb: np.ndarray
    banks: np.ndarray
    countries: np.ndarray


@DETECTORS.register("shared_beneficiary")
class SharedBeneficiary(GraphDetector):
    """Shared beneficiary (CS05): accounts paid by many unrelated senders, and those senders."""


    class Params(GraphParams):
        days: int | None = Field(
            None, ge=1, description="trailing window of days before the end of the data "
                                    "(None: all of it)")
        exclude_channels: list[str] = Field(
            ["card", "cash"], description="channels that never pay an individual beneficiary "
                                          "(shops, ATMs)")
        exclude_kinds: list[str] = Field(
            ["merchant", "cash"], description="account kinds that are never scored as "
                                              "beneficiaries (acquired merchants, bank cash)")
        min_senders: int = Field(
            3, ge=1, description="unrelated sender households a beneficiary needs (CS05: >= 3)")
        small_amount: float = Field(
            250.0, gt=0, description="base-currency amount up to which a payment is small (CS02)")
        cross_border_weight: float = Field(
            3.0, ge=0, description="extra weight of a sender household paying small "
                                   "cross-border amounts")
        share_power: float = Field(
            0.25, ge=0, le=1, description="a sender's score is the beneficiary's times "
                                          "(share of the sender's payments going there) ** this")
        sender_weight: float = Field(
            0.8, ge=0, le=1, description="scale of sender scores against beneficiary scores")

    # --- computation ---------------------------------------------------------------------------

    def _run(self, data: Dataset) -> SharedBeneficiaryResult:
        p = self.params
        lg = ledger_of(data)
        n = lg.n_accounts
        start = 0 if p.days is None else lg.since(p.days)
        rows = channel_rows(lg, p.exclude_channels, start, unrelated=True)
        src = lg.src[rows].astype(np.int64)
        dst = lg.dst[rows].astype(np.int64)
        n_hh = int(lg.household.max()) + 1 if n else 1

        # one weight per (beneficiary, sender household): its strongest payment
        small_cb = lg.cross_border[rows] & (lg.amount[rows] <= p.small_amount)
        w = 1.0 + p.cross_border_weight * small_cb
        key = dst * n_hh + lg.household[src]
        order = np.lexsort((-w, key))
        k = key[order]
        first = np.r_[True, k[1:] != k[:-1]] if k.size else np.zeros(0, bool)
        ben = k[first] // n_hh
        senders = np.bincount(ben, minlength=n)
        effective = np.bincount(ben, weights=w[order][first], minlength=n)
        small_cb_senders = np.bincount(ben, weights=small_cb[order][first], minlength=n)

        def distinct(second: np.ndarray) -> np.ndarray:
            second = second.astype(np.int64) + 1  # -1 (unknown) -> 0
            m = int(second.max()) + 1 if second.size else 1
            u = np.unique(dst * m + second)
            return np.bincount(u // m, minlength=n)

        banks = distinct(lg.src_bank[rows])
        countries = distinct(lg.src_country[rows])
        eligible = (senders >= p.min_senders) & ~np.isin(lg.account_kind, p.exclude_kinds)
        ben_score = np.where(
            eligible,
            np.log1p(effective) * (1 + np.log(np.maximum(banks, 1)))
            * (1 + np.log(np.maximum(countries, 1))), 0.0)

        # senders: the strongest beneficiary they pay, scaled by the share of payments to it
        C = sp.csr_matrix((np.ones(rows.size), (src, dst)), shape=(n, n))
        C.sum_duplicates()
        out = np.asarray(C.sum(axis=1)).ravel()
        share = (sp.diags(1.0 / np.maximum(out, 1.0)) @ C).tocsr()
        S = share.power(p.share_power) if p.share_power > 0 else (share > 0).astype(np.float64)
        M = (S @ sp.diags(ben_score)).tocsr()
        M.eliminate_zeros()
        snd_score = p.sender_weight * M.max(axis=1).toarray().ravel() if n else np.zeros(0)
        best = np.asarray(M.argmax(axis=1)).ravel() if n else np.zeros(0, np.int64)
        score = np.maximum(ben_score, snd_score)
        return SharedBeneficiaryResult(lg=lg, score=score, ben_score=ben_score, snd_score=snd_score,
                                       best=best, share=share, senders=senders, effective=effective,
                                       small_cb=small_cb_senders, banks=banks, countries=countries)

    def explain(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        self.check_fitted()
        r = self._compute(data)
        lg = r.lg
        pos, known = account_positions(lg, ids)
        out_ids, reasons, values, weights = [], [], [], []
        for i, (a, ok) in enumerate(zip(pos, known)):
            aid = int(np.asarray(ids)[i])
            if not ok:
                out_ids.append(aid), reasons.append("unknown account"), values.append(0.0)
                weights.append(0.0)
                continue
            if r.ben_score[a] > 0:
                out_ids.append(aid)
                reasons.append(f"paid by {int(r.senders[a])} unrelated senders from "
                               f"{int(r.banks[a])} banks in {int(r.countries[a])} countries")
                values.append(float(r.senders[a]))
                weights.append(float(r.ben_score[a]))
                if r.small_cb[a] > 0:
                    out_ids.append(aid)
                    reasons.append(f"{int(r.small_cb[a])} of those senders pay small "
                                   "cross-border amounts")
                    values.append(float(r.small_cb[a]))
                    weights.append(float(r.ben_score[a]) * r.small_cb[a]
                                   / max(r.effective[a], 1.0))
            if r.snd_score[a] > 0:
                b = int(r.best[a])
                out_ids.append(aid)
                reasons.append(
                    f"pays beneficiary {format_accounts(lg, [b])} ({int(r.senders[b])} "
                    f"unrelated senders) with {r.share[a, b]:.0%} of its payments")
                values.append(float(r.share[a, b]))
                weights.append(float(r.snd_score[a]))
            if r.score[a] <= 0:
                out_ids.append(aid)
                reasons.append("pays or is paid by no account with "
                               f">= {self.params.min_senders} unrelated senders")
                values.append(float(r.senders[a]))
                weights.append(0.0)
        return explanation(out_ids, reasons, values, weights)
