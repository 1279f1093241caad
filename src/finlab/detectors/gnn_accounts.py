"""gnn_accounts: an account-level graph neural network (GraphSAGE-style mean aggregation over
payments in and out, with the payments' inputs), trained on sampled neighbourhoods."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from finlab.detectors.base import DETECTORS
from finlab.detectors.gnn_common import GNNDetector, GNNParams


@DETECTORS.register("gnn_accounts")
class GNNAccounts(GNNDetector):
    """GraphSAGE-style network scoring each account from its 2-hop payment neighbourhood.

    An account is a positive when it is at either end of a suspicious payment of the period.
    An account without payments in the scored data has nothing to judge it by: it scores below
    every active account."""

    level = "account"
    kind = "accounts"

    class Params(GNNParams):
        # far fewer accounts than payments: smaller batches and more epochs give enough steps
        epochs: int = Field(30, ge=1, le=500)
        batch_size: int = Field(64, ge=8, le=65_536, description="seeds per training step")

    def seeds(self, g, suspicious, period):
        active = np.zeros(g.n_nodes, bool)
        active[g.src[period]] = active[g.dst[period]] = True
        hit = period & np.isin(g.txn_id, suspicious)
        y = np.zeros(g.n_nodes, np.int8)
        y[g.src[hit]] = y[g.dst[hit]] = 1
        ids = np.flatnonzero(active)
        return ids, y[ids]

    def scored(self, g):
        return np.arange(g.n_nodes), pd.Index(g.accounts)

    def score(self, data):
        scores = super().score(data)
        g = self.graph(data)
        idle = (g.indptr[1:] == g.indptr[:-1])
        if idle.any() and not idle.all():
            scores[idle] = scores[~idle].min() - 1.0
        return scores
