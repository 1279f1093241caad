"""Watchlist PageRank (CS13): personalized PageRank from a list of known facilitators and
flagged accounts, over the payment graph in both directions.

An FIU keeps a list of known facilitators and of accounts already reported; the accounts that
pay them (senders), that they pay (organisers, relatives) and the accounts close to those are the
next to look at. The detector runs PageRank with restarts on the watchlist over the symmetrised
payment graph (payer -> payee and payee -> payer, weighted by payment counts or amounts, card
and cash payments and hubs left out), so that senders of a listed facilitator rank high although
money flows from them to it. A random walker favours busy accounts, so the visit probability is
divided by the account's degree ** `degree_power`.

Labels enter only through the watchlist: `fit` takes the accounts flagged in the observed labels
(`labels.observed`, flagged strictly before the end of the training data) or the `watchlist`
parameter; `score` never reads labels. Listed accounts score above every other account. When none of the
listed accounts is in the scored data (a watchlist of another population), the walk restarts
instead on accounts whose country, account kind and bank kind are over-represented on the list
(a fuzzy match, as CS13 allows), weighted by that over-representation learnt in `fit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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
    flow_rows,
    format_accounts,
    ledger_of,
)
from finlab.errors import InputError
from finlab.features import as_of_time
from finlab.features.graph import pagerank
from finlab.schema import Dataset, Labels


@dataclass
class WatchlistPagerankResult(GraphResult):
    """Personalised PageRank from the listed accounts over the payment graph."""

    listed: np.ndarray
    ppr: np.ndarray
    links: sp.csr_matrix
    degree: np.ndarray
    by_profile: bool
    seeds: np.ndarray


@DETECTORS.register("watchlist_pagerank")
class WatchlistPageRank(GraphDetector):
    """Watchlist PageRank (CS13): accounts near listed ones in the payment graph, either way."""

    supervised = False
    learns_account_ids = True

    class Params(GraphParams):
        watchlist: list[int] | None = Field(
            None, description="account ids of the watchlist; default: the accounts flagged in "
                              "the training data's observed labels")
        damping: float = Field(
            0.85, gt=0, lt=1, description="probability of following a payment rather than "
                                          "restarting at the watchlist")
        iterations: int = Field(50, ge=1, le=1000, description="most power iterations")
        weight: Literal["count", "amount"] = Field(
            "count", description="edge weight: number of payments or their summed amount")
        degree_power: float = Field(
            0.5, ge=0, le=1, description="visit probability is divided by degree ** this")
        hub_degree: int = Field(
            200, ge=1, description="accounts with more distinct counterparties are left out")

    def fit(self, data: Dataset, labels: Labels | None = None) -> WatchlistPageRank:
        if self.params.watchlist is not None:
            listed = np.asarray(self.params.watchlist, np.int64)
        else:
            labels = labels if labels is not None else data.labels
            observed = None if labels is None else labels.observed
            if (observed is None or len(observed) == 0) and labels is not None:
                # no investigator's flags (e.g. an imported dataset): the accounts of cases known
                # in the training data stand in for the FIU's list
                la = labels.accounts
                listed = la.loc[la["case_id"].notna(), "account_id"].to_numpy(np.int64)
            elif observed is None or len(observed) == 0:
                listed = np.zeros(0, np.int64)
            else:
                cutoff = as_of_time(data)
                flagged = pd.to_datetime(observed["flagged_at"], utc=True)
                listed = observed.loc[(flagged < cutoff).to_numpy(), "account_id"].to_numpy(
                    np.int64)
        listed = np.unique(listed)
        if listed.size == 0:
            raise InputError(f"detector {self.name!r} needs a watchlist: observed labels "
                             "(labels/observed) or case labels in the training data, or the "
                             "`watchlist` parameter")
        self.watchlist_ = listed
        # what the listed accounts look like, for a population none of them belongs to
        profile = _profile(data)
        on = data.accounts["account_id"].isin(listed).to_numpy()
        self.profile_ = {}
        if on.any():
            lift = profile[on].value_counts(normalize=True) / profile.value_counts(
                normalize=True)
            self.profile_ = {str(k): float(v) for k, v in lift.dropna().items() if v > 1.0}
        self.fitted_ = True
        return self

    def state_key(self) -> tuple:
        return (hash(self.watchlist_.tobytes()),)

    def _run(self, data: Dataset) -> WatchlistPagerankResult:
        p = self.params
        lg = ledger_of(data)
        n = lg.n_accounts
        pos, known = account_positions(lg, self.watchlist_)
        listed = np.zeros(n, bool)
        listed[pos[known]] = True
        seeds = listed.astype(np.float64)
        by_profile = not listed.any()
        if by_profile:  # a watchlist from another population: seed on look-alikes instead
            acc = data.accounts.sort_values("account_id")
            seeds = _profile(data, acc).map(self.profile_).fillna(0.0).to_numpy(np.float64)
        rows = flow_rows(lg, exclude_channels=p.exclude_channels, hub_degree=p.hub_degree,
                         days=p.days)
        w = np.ones(rows.size) if p.weight == "count" else lg.amount[rows]
        A = sp.csr_matrix((w, (lg.src[rows], lg.dst[rows])), shape=(n, n))
        S = (A + A.T).tocsr()
        S.sum_duplicates()
        if seeds.sum() <= 0:
            ppr = np.zeros(n)
        else:
            ppr = pagerank(S, personalization=seeds, damping=p.damping, iterations=p.iterations)
        degree = np.diff((S > 0).astype(np.int8).tocsr().indptr)
        adjusted = ppr / np.maximum(degree, 1) ** p.degree_power
        top = adjusted[~listed].max() if (~listed).any() and adjusted[~listed].size else 0.0
        rel = adjusted / top if top > 0 else np.zeros(n)
        top_listed = rel[listed].max() if listed.any() else 0.0
        on_list = 1.0 + (rel / top_listed if top_listed > 0 else 0.0)  # listed: 1..2
        score = np.where(listed, on_list, np.minimum(rel, 1.0))
        return WatchlistPagerankResult(lg=lg, score=score, listed=listed, ppr=ppr, links=S,
                                       degree=degree, by_profile=by_profile, seeds=seeds)

    def explain(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        self.check_fitted()
        r = self._compute(data)
        lg, links, listed = r.lg, r.links, r.listed
        ids = np.asarray(ids, np.int64)
        pos, known = account_positions(lg, ids)
        out_ids, reasons, values, weights = [], [], [], []
        for aid, a, ok in zip(ids, pos, known):
            if not ok:
                out_ids.append(aid), reasons.append("unknown account")
                values.append(0.0), weights.append(0.0)
                continue
            if listed[a]:
                out_ids.append(aid), reasons.append("on the watchlist")
                values.append(1.0), weights.append(float(r.score[a]))
            if r.by_profile and r.seeds[a] > 0:
                out_ids.append(aid)
                reasons.append("no listed account is in the data; its country, account kind "
                               f"and bank kind are {r.seeds[a]:.1f}x as common on the list")
                values.append(float(r.seeds[a])), weights.append(float(r.score[a]))
            nb = links.indices[links.indptr[a]:links.indptr[a + 1]]
            near = nb[listed[nb]]
            if near.size:
                out_ids.append(aid)
                reasons.append(f"pays or is paid by {near.size} watchlisted accounts "
                               f"({format_accounts(lg, list(near))})")
                values.append(float(near.size)), weights.append(float(r.score[a]))
            out_ids.append(aid)
            rank = r.ppr[a] * lg.n_accounts
            reasons.append(f"personalized PageRank from the watchlist {rank:.3g} x an average "
                           f"account, over {int(r.degree[a])} counterparties")
            values.append(float(r.ppr[a] * lg.n_accounts))
            weights.append(float(r.score[a]) / 2)
        return explanation(out_ids, reasons, values, weights)


def _profile(data: Dataset, accounts: pd.DataFrame | None = None) -> pd.Series:
    """Per account (in the order of `accounts`): country, account kind and bank kind, joined."""
    acc = data.accounts if accounts is None else accounts
    bank_kind = data.banks.assign(bank_id=data.banks["bank_id"].astype(str)).set_index(
        "bank_id")["kind"].astype(str)
    kind = bank_kind.reindex(acc["bank_id"].astype(str)).fillna("?").to_numpy()
    return pd.Series(acc["country"].astype(str).to_numpy() + "|" + acc["kind"].astype(str)
                     .to_numpy() + "|" + kind.astype(str), index=acc.index)
