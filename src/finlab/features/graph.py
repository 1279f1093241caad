"""Graph features on the account-to-account payment graph, with scipy.sparse so they scale to
millions of edges: PageRank, flow through an account, and short cycles (2 and 3 hops) among
accounts of ordinary degree (hubs such as merchants would only add noise and cost)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from finlab.features.groups import FEATURE_GROUPS
from finlab.features.ledger import Ledger

HUB_DEGREE = 50  # accounts with more distinct counterparties are left out of cycle counts


def adjacency(lg: Ledger, start: int = 0, weights: np.ndarray | None = None) -> sp.csr_matrix:
    """Account x account matrix of summed weights (default: amounts) from row `start` on;
    parallel payments between the same pair add up."""
    n = lg.n_accounts
    w = lg.amount[start:] if weights is None else weights
    return sp.csr_matrix((w, (lg.src[start:], lg.dst[start:])), shape=(n, n))


def pagerank(A: sp.csr_matrix, personalization: np.ndarray | None = None, damping: float = 0.85,
             iterations: int = 50, tol: float = 1e-10) -> np.ndarray:
    """PageRank by power iteration on a weighted adjacency matrix (rows = payers). Dangling
    accounts hand their mass back to the personalization vector (uniform by default)."""
    n = A.shape[0]
    p = np.full(n, 1.0 / n) if personalization is None else personalization / personalization.sum()
    out_weight = np.asarray(A.sum(axis=1)).ravel()
    inv = np.divide(1.0, out_weight, out=np.zeros(n), where=out_weight > 0)
    P = sp.diags(inv) @ A  # row-stochastic where rows have weight
    dangling = out_weight == 0
    x = p.copy()
    for _ in range(iterations):
        nxt = damping * (P.T @ x + x[dangling].sum() * p) + (1 - damping) * p
        if np.abs(nxt - x).sum() < tol:
            return nxt
        x = nxt
    return x


def short_cycles(A: sp.csr_matrix, hub_degree: int = HUB_DEGREE) -> tuple[np.ndarray, np.ndarray]:
    """Per account, the number of 2-cycles (reciprocal counterparties) and closed 3-walks it lies
    on, in the binary graph without self-loops and without hubs."""
    B = (A > 0).astype(np.float64).tocsr()
    B.setdiag(0)
    B.eliminate_zeros()
    degree = np.asarray(B.sum(axis=0)).ravel() + np.asarray(B.sum(axis=1)).ravel()
    keep = sp.diags((degree <= hub_degree).astype(np.float64))
    B = (keep @ B @ keep).tocsr()
    BT = B.T.tocsr()
    two = np.asarray(B.multiply(BT).sum(axis=1)).ravel()
    three = np.asarray((B @ B).multiply(BT).sum(axis=1)).ravel()
    return two, three


@FEATURE_GROUPS.register("graph")
def graph(lg: Ledger, windows: Sequence[int]) -> dict[str, np.ndarray]:
    longest = max(windows)
    A = adjacency(lg, lg.since(longest))
    in_sum = np.asarray(A.sum(axis=0)).ravel()
    out_sum = np.asarray(A.sum(axis=1)).ravel()
    two, three = short_cycles(A)
    sfx = f"_{longest}d"
    return {
        "pagerank" + sfx: pagerank(A) * lg.n_accounts,  # 1.0 = an average account
        "through_flow" + sfx: np.minimum(in_sum, out_sum),
        "cycles_2" + sfx: two,
        "cycles_3" + sfx: three,
    }
