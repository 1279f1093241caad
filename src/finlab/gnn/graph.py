"""The payment graph as arrays, and bounded neighbourhood sampling (numpy only, no torch).

Accounts are nodes and payments are directed edges; the networks pass messages along each edge
and along its reverse, so one incidence list per node holds both directions. Edge inputs are the
payment's own fields (amount, time of day and week, channel, cross-border and cross-bank flags),
how long since each end last paid or was paid, and the Multi-GNN port numbers: the rank, in order
of first contact, of the counterparty among the payer's payees (out port) and among the payee's
payers (in port); the detectors append each payment's strict payment features
(finlab.features.payments). Node inputs are the account's degrees, distinct counterparties and
sums in and out per 30 days, computed on the graph at hand: a training graph never sees later
payments, and a rate keeps the longer graph scored after it on the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: channels with a column of their own; others (and a dataset without channels) share "other"
CHANNELS = ("card", "transfer", "remittance", "p2p_app", "crypto", "cash")

EDGE_INPUTS = ("log_amount", "whole_amount", "round_hundred", "hour_sin", "hour_cos", "weekday_sin",
               "weekday_cos", "cross_border", "cross_bank", "log_out_port", "log_in_port",
               "log_since_payer_paid", "log_since_payee_paid",
               *(f"channel_{c}" for c in CHANNELS), "channel_other")
#: the payment columns the graph reads
READ = ("txn_id", "ts", "src_account", "dst_account", "amount_base", "channel", "src_country",
        "dst_country", "src_bank", "dst_bank")
#: rows copied at a time into the edge inputs
STEP = 1 << 20
#: per 30 days of the graph's span
NODE_INPUTS = ("log_out_degree", "log_in_degree", "log_out_payees", "log_in_payers",
               "log_out_sum", "log_in_sum")


@dataclass(frozen=True)
class PaymentGraph:
    """Payments as edges between node indices, with inputs, and a node's incident edges in CSR
    (`indptr`, `incident`: out edges and in edges of each node, ascending edge index)."""

    accounts: pd.Index          # account id of each node
    txn_id: np.ndarray          # int64 per edge, edges in time order
    ts: np.ndarray              # int64 seconds since the epoch per edge
    src: np.ndarray             # int64 node index per edge
    dst: np.ndarray
    edge_x: np.ndarray          # float32 (edges, len(EDGE_INPUTS))
    node_x: np.ndarray          # float32 (nodes, len(NODE_INPUTS))
    indptr: np.ndarray
    incident: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.accounts)

    @property
    def n_edges(self) -> int:
        return len(self.txn_id)


def node_index(accounts: pd.DataFrame, tx: pd.DataFrame) -> pd.Index:
    """Every account of the dataset (and any only seen in payments), sorted by id so the node
    order depends on no row order."""
    ids = pd.Index(accounts["account_id"]).append(pd.Index(tx["src_account"])).append(
        pd.Index(tx["dst_account"]))
    return pd.Index(np.sort(ids.unique().to_numpy()))


def build_graph(tx: pd.DataFrame, nodes: pd.Index, extra_edge_x: np.ndarray | None = None
                ) -> PaymentGraph:
    """The graph of the payments `tx` on the node set `nodes` (every payment end must be in it);
    `extra_edge_x` (one row per payment of `tx`, in its order) is appended to the edge inputs."""
    tx = tx[[c for c in READ if c in tx]]
    seconds = ((tx["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    order = np.lexsort((tx["txn_id"].to_numpy(np.int64), seconds))
    in_order = bool(np.all(order[1:] > order[:-1]))
    if not in_order:
        tx = tx.iloc[order]
    ts = seconds[order]
    src = nodes.get_indexer(tx["src_account"]).astype(np.int64)
    dst = nodes.get_indexer(tx["dst_account"]).astype(np.int64)
    n = len(nodes)
    base = _edge_inputs(tx, src, dst, ts, n)
    if extra_edge_x is None:
        edge_x = base
    else:
        # one array for both, filled in steps: no stacked copy of the (large) payment features
        width = base.shape[1]
        edge_x = np.empty((len(tx), width + extra_edge_x.shape[1]), np.float32)
        edge_x[:, :width] = base
        del base
        for lo in range(0, len(tx), STEP):
            rows = slice(lo, lo + STEP)
            edge_x[rows, width:] = extra_edge_x[rows if in_order else order[rows]]
    node_x = _node_inputs(src, dst, tx["amount_base"].to_numpy(np.float64), n,
                          span_days(ts))
    both = np.concatenate([src, dst])
    edge_of = np.concatenate([np.arange(len(src)), np.arange(len(src))])
    by_node = np.lexsort((edge_of, both))
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(both, minlength=n), out=indptr[1:])
    return PaymentGraph(nodes, tx["txn_id"].to_numpy(np.int64), ts, src, dst, edge_x, node_x,
                        indptr, edge_of[by_node])


def _edge_inputs(tx: pd.DataFrame, src, dst, ts, n: int) -> np.ndarray:
    """The columns of EDGE_INPUTS for payments sorted by time."""
    amount = tx["amount_base"].to_numpy(np.float64)
    stamp = pd.DatetimeIndex(tx["ts"])
    hour = 2 * np.pi * (stamp.hour.to_numpy() + stamp.minute.to_numpy() / 60) / 24
    weekday = 2 * np.pi * stamp.day_of_week.to_numpy() / 7
    cols = [np.log1p(np.abs(amount)), (np.round(amount, 2) % 1 == 0),
            (np.round(amount, 2) % 100 == 0), np.sin(hour), np.cos(hour), np.sin(weekday),
            np.cos(weekday), _differs(tx, "src_country", "dst_country"),
            _differs(tx, "src_bank", "dst_bank"), np.log1p(ports(src, dst, n)),
            np.log1p(ports(dst, src, n)), _log_since_last(src, ts), _log_since_last(dst, ts)]
    channel = (tx["channel"].astype(str).to_numpy() if "channel" in tx
               else np.full(len(tx), "other"))
    known = np.zeros(len(tx), bool)
    for c in CHANNELS:
        hit = channel == c
        known |= hit
        cols.append(hit)
    cols.append(~known)
    return np.column_stack([np.asarray(c, np.float32) for c in cols])


def _differs(tx: pd.DataFrame, a: str, b: str) -> np.ndarray:
    if a not in tx or b not in tx:
        return np.zeros(len(tx), np.float32)
    return (tx[a].astype(str).to_numpy() != tx[b].astype(str).to_numpy()).astype(np.float32)


def ports(node: np.ndarray, other: np.ndarray, n: int) -> np.ndarray:
    """Port number of each edge at `node`: 0 for the first counterparty `node` dealt with, 1 for
    the second, ... (edges in time order; repeat payments keep their pair's port)."""
    pair = node * n + other
    _, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
    pair_node = node[first]
    by_time = np.lexsort((first, pair_node))
    starts = np.searchsorted(pair_node[by_time], pair_node[by_time], side="left")
    port_sorted = np.arange(len(first)) - starts
    port = np.empty(len(first), np.int64)
    port[by_time] = port_sorted
    return port[inverse]


def _log_since_last(node: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """log1p(hours since the node's previous edge on this side); 0 for its first."""
    order = np.lexsort((np.arange(len(node)), node))
    gap = np.zeros(len(node), np.float64)
    same = node[order][1:] == node[order][:-1]
    delta = np.diff(ts[order]).astype(np.float64) / 3600
    gap[order[1:]] = np.where(same, np.log1p(np.maximum(delta, 0)), 0.0)
    return gap


def span_days(ts: np.ndarray) -> float:
    """Days the payments `ts` (seconds) span, at least one."""
    return max(float(ts.max() - ts.min()) / 86_400, 1.0) if len(ts) else 1.0


def _node_inputs(src, dst, amount, n: int, days: float) -> np.ndarray:
    """Degrees, distinct counterparties and sums per 30 days of the graph's span: a rate does
    not grow with the span, so the training graph and the longer graph scored after it agree."""
    def distinct(a, b):
        pairs = np.unique(a * n + b)
        return np.bincount(pairs // n, minlength=n)

    cols = [np.bincount(src, minlength=n), np.bincount(dst, minlength=n), distinct(src, dst),
            distinct(dst, src), np.bincount(src, weights=np.abs(amount), minlength=n),
            np.bincount(dst, weights=np.abs(amount), minlength=n)]
    return np.log1p(np.column_stack(cols) * (30 / days)).astype(np.float32)


def expand_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges [s, s + l) for each pair, without a Python loop."""
    lengths = np.asarray(lengths, np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(np.asarray(starts, np.int64), lengths) + np.arange(total) - offsets


def sample_incident(g: PaymentGraph, nodes: np.ndarray, k: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Up to `k` edges incident to each node (all of them for a node with at most `k`; else `k`
    draws with replacement), as sorted unique edge indices: a hub adds at most `k` edges."""
    lo, hi = g.indptr[nodes], g.indptr[nodes + 1]
    deg = hi - lo
    small = deg <= k
    every = g.incident[expand_ranges(lo[small], deg[small])]
    big_lo, big_deg = lo[~small], deg[~small]
    draws = rng.integers(0, big_deg[:, None], size=(len(big_deg), k)) if len(big_deg) else \
        np.zeros((0, k), np.int64)
    some = g.incident[(big_lo[:, None] + draws).ravel()]
    return sorted_unique(np.concatenate([every, some]), g.n_edges)


def sorted_unique(values: np.ndarray, size: int) -> np.ndarray:
    """np.unique of indices in [0, size): through a mask of `size` flags when there are many
    (a scoring step's neighbourhood spans much of the graph), by hashing when there are few."""
    if len(values) * 64 < size:
        return np.unique(values)
    mask = np.zeros(size, bool)
    mask[values] = True
    return np.flatnonzero(mask)


@dataclass(frozen=True)
class Subgraph:
    """A sampled neighbourhood: global node and edge indices (sorted), the local endpoints of
    each edge, and where the seeds sit in it."""

    nodes: np.ndarray
    edges: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    seed_nodes: np.ndarray      # local indices of the seed nodes (or seed edges' endpoints)
    seed_edges: np.ndarray      # local indices of the seed edges (empty for node seeds)


def sample_subgraph(g: PaymentGraph, fanouts, rng: np.random.Generator, *,
                    seed_edges: np.ndarray | None = None,
                    seed_nodes: np.ndarray | None = None) -> Subgraph:
    """The seeds plus `len(fanouts)` hops of sampled incident edges (both directions)."""
    seed_edges = np.unique(np.asarray(seed_edges if seed_edges is not None else [], np.int64))
    roots = np.concatenate([g.src[seed_edges], g.dst[seed_edges],
                            np.asarray(seed_nodes if seed_nodes is not None else [], np.int64)])
    roots = sorted_unique(roots, g.n_nodes)
    known = np.zeros(g.n_nodes, bool)
    known[roots] = True
    picked_all, frontier = [seed_edges], roots
    for k in fanouts:
        if len(frontier) == 0:
            break
        picked = sample_incident(g, frontier, int(k), rng)
        picked_all.append(picked)
        ends = np.concatenate([g.src[picked], g.dst[picked]])
        frontier = sorted_unique(ends[~known[ends]], g.n_nodes)
        known[frontier] = True
    nodes = np.flatnonzero(known)
    edges = sorted_unique(np.concatenate(picked_all), g.n_edges)
    local = np.zeros(g.n_nodes, np.int64)
    local[nodes] = np.arange(len(nodes))
    return Subgraph(nodes, edges, local[g.src[edges]], local[g.dst[edges]], local[roots],
                    np.searchsorted(edges, seed_edges))
