"""gnn_edges: a payment-level graph neural network (GIN/PNA-style with edge updates, reverse
edges, ego flags and port numbers, after Multi-GNN), trained on sampled neighbourhoods."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from finlab.detectors.base import DETECTORS
from finlab.detectors.gnn_common import GNNDetector, GNNParams
from finlab.detectors.payment_common import PaymentDetector, PaymentParams


@DETECTORS.register("gnn_edges")
class GNNEdges(GNNDetector, PaymentDetector):
    """Graph neural network scoring each payment from its 2-hop payment neighbourhood.

    Accounts are scored and explained as every payment detector's are (PaymentDetector)."""

    level = "transaction"
    family = "gnn"
    kind = "edges"

    class Params(GNNParams):
        account_score: Literal["max", "top_mean"] = PaymentParams.model_fields["account_score"]
        top_k: int = PaymentParams.model_fields["top_k"]

    def seeds(self, g, suspicious, period):
        ids = np.flatnonzero(period)
        return ids, np.isin(g.txn_id[ids], suspicious).astype(np.int8)

    def scored(self, g):
        return np.arange(g.n_edges), pd.Index(g.txn_id)
