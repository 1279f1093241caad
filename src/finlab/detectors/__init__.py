"""Detectors: indicator rules, tabular models and graph methods behind one contract
(`fit`, `score`, `explain`), registered by name in `DETECTORS`."""

from __future__ import annotations

from finlab.detectors.base import DETECTORS, Detector, make_detector

# every detector module registers itself on import; a failing import is an error, never skipped
from finlab.detectors import (  # noqa: F401  isort: skip
    gradient_boosting, isolation_forest, logistic_regression, rules,
    dense_flow, gather_scatter, scatter_gather, shared_beneficiary, time_cycles,
    watchlist_pagerank, payment_boosting, payment_rules, gnn_edges, gnn_accounts,
)

__all__ = ["DETECTORS", "Detector", "make_detector"]
