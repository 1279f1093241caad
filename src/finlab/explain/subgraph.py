"""Which accounts and flows to draw around an alert: a breadth-first walk over one window of
payments, with heavy counterparties (merchants, employers, cash points) folded into one node per
sector and the least important far accounts folded into "more" nodes, so a picture stays readable.

Everything works on account positions and numpy arrays of the window's rows (a ledger slice): one
boolean look-up per hop over the rows, one group-by for the edges. No loop per payment or account.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: at most this many nodes in a picture (centres always count, even beyond it)
MAX_NODES = 40
#: a business-owned account (merchant, employer, cash point) with at least this many distinct
#: counterparties in the window is a heavy counterparty: drawn folded, never walked through
HEAVY_BUSINESS = 5
#: any account with at least this many distinct counterparties in the window is heavy too
HEAVY_ANY = 100


@dataclass(frozen=True)
class Flows:
    """The payments of one window as arrays: payer and payee positions (0..n_accounts-1), time
    (seconds, UTC), amount in the base currency."""

    src: np.ndarray
    dst: np.ndarray
    t: np.ndarray
    amount: np.ndarray
    n_accounts: int

    def rows(self, start: int, end: int) -> Flows:
        """The rows with start <= t < end."""
        keep = (self.t >= start) & (self.t < end)
        return Flows(self.src[keep], self.dst[keep], self.t[keep], self.amount[keep],
                     self.n_accounts)


@dataclass(frozen=True)
class Subgraph:
    """The picture's content.

    nodes: node, kind ("centre", "account", "folded" heavy counterparties of one sector,
    "more" accounts left out), account (position, -1 for groups), hop, side (-1 pays towards the
    centre, +1 is paid from it, 0 centre), members (accounts behind the node), group (sector or
    "payers"/"payees" name of a group node). edges: src, dst (nodes), count, amount, first, last
    (seconds). node_of: node of each account position (-1 when not drawn).
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    node_of: np.ndarray
    hops: int


def distinct_degree(flows: Flows) -> np.ndarray:
    """Distinct counterparties of each account in the rows (either direction)."""
    a = np.r_[flows.src, flows.dst].astype(np.int64)
    b = np.r_[flows.dst, flows.src].astype(np.int64)
    pairs = pd.unique(a * flows.n_accounts + b)  # a hash: faster than sorting here
    return np.bincount(pairs // flows.n_accounts, minlength=flows.n_accounts)


def heavy_accounts(flows: Flows, business: np.ndarray) -> np.ndarray:
    """Accounts drawn as folded heavy counterparties: busy business accounts, or any hub."""
    degree = distinct_degree(flows)
    return (business & (degree >= HEAVY_BUSINESS)) | (degree >= HEAVY_ANY)


def walk(flows: Flows, centres: np.ndarray, hops: int, heavy: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Breadth-first over the rows from `centres`, never through heavy accounts. Returns per
    account: hop (-1 unreached), parent (the account it was reached from with the most money,
    -1 for centres), link (money between it and its parent) and side (-1 payer side, +1 payee
    side, 0 centre)."""
    n = flows.n_accounts
    hop = np.full(n, -1, np.int64)
    parent = np.full(n, -1, np.int64)
    link = np.zeros(n)
    side = np.zeros(n, np.int64)
    hop[centres] = 0
    frontier = np.zeros(n, bool)
    frontier[centres] = True
    s, d, amount = flows.src.astype(np.int64), flows.dst.astype(np.int64), flows.amount
    for h in range(1, hops + 1):
        out, into = frontier[s] & ~frontier[d], frontier[d] & ~frontier[s]
        node = np.r_[d[out], s[into]]
        origin = np.r_[s[out], d[into]]
        money = np.r_[amount[out], amount[into]]
        towards = np.r_[-amount[out], amount[into]]  # > 0: the node pays towards the walk
        fresh = hop[node] == -1
        if not fresh.any():
            break
        pair = pd.DataFrame({"node": node[fresh], "origin": origin[fresh], "money": money[fresh],
                             "towards": towards[fresh]})
        per_pair = pair.groupby(["node", "origin"], sort=True).sum()
        best = per_pair["money"].groupby(level="node").idxmax()
        reached = best.index.to_numpy(np.int64)
        origins = np.array([o for _, o in best.to_numpy()], np.int64)
        hop[reached] = h
        parent[reached] = origins
        link[reached] = per_pair["money"].loc[best.to_numpy()].to_numpy()
        if h == 1:
            net = per_pair["towards"].groupby(level="node").sum().reindex(reached).to_numpy()
            side[reached] = np.where(net > 0, -1, 1)
        else:
            side[reached] = side[origins]
        frontier = np.zeros(n, bool)
        frontier[reached[~heavy[reached]]] = True
    return hop, parent, link, side


def select(flows: Flows, centres, hops: int, *, business: np.ndarray | None = None,
           sector: np.ndarray | None = None, sector_names=(), max_nodes: int = MAX_NODES
           ) -> Subgraph:
    """The subgraph around `centres` (account positions) within `hops` in the rows of `flows`.

    `business` marks business-owned accounts and `sector` gives each account's sector code (an
    index into `sector_names`, -1 none); heavy counterparties fold into one node per sector and
    side. Beyond `max_nodes`, accounts far from the centre and with little money to their parent
    fold into one "more" node per hop and side.
    """
    centres = np.unique(np.asarray(centres, np.int64))
    n = flows.n_accounts
    business = np.zeros(n, bool) if business is None else np.asarray(business, bool)
    sector = np.full(n, -1, np.int64) if sector is None else np.asarray(sector, np.int64)
    heavy = heavy_accounts(flows, business)
    heavy[centres] = False
    hop, _parent, link, side = walk(flows, centres, hops, heavy)

    reached = np.flatnonzero(hop > 0)
    # units compete for room: single accounts, and heavy accounts folded per sector, side, hop
    unit = np.full(n, -1, np.int64)
    plain, folded = reached[~heavy[reached]], reached[heavy[reached]]
    unit[plain] = np.arange(plain.size)
    group_codes, groups = pd.factorize(pd.MultiIndex.from_arrays(
        [sector[folded], side[folded], hop[folded]]), sort=True)
    unit[folded] = plain.size + group_codes
    n_units = plain.size + len(groups)
    unit_hop = np.r_[hop[plain], np.asarray([h for _, _, h in groups], np.int64)]
    unit_side = np.r_[side[plain], np.asarray([b for _, b, _ in groups], np.int64)]
    money = np.bincount(unit[reached], weights=link[reached], minlength=n_units)
    order = np.lexsort((np.arange(n_units), -money, unit_hop))
    room = max(max_nodes - centres.size, 0)
    keep = min(order.size, room)
    while True:  # the "more" nodes take room too: shrink until everything fits
        rest = order[keep:]
        fits = room - len(set(zip(unit_hop[rest], unit_side[rest], strict=True)))
        if keep <= max(fits, 0):
            break
        keep = max(fits, 0)
    kept = np.sort(order[:keep])
    dropped = order[keep:]

    node_of = np.full(n, -1, np.int64)
    node_of[centres] = np.arange(centres.size)
    rows = [("centre", c, 0, 0, 1, "") for c in centres]
    unit_node = np.full(n_units, -1, np.int64)
    unit_node[kept] = centres.size + np.arange(kept.size)
    members = np.bincount(unit[reached], minlength=n_units)
    for u in kept:
        if u < plain.size:
            rows.append(("account", plain[u], unit_hop[u], unit_side[u], 1, ""))
        else:
            code = groups[u - plain.size][0]
            name = sector_names[code] if 0 <= code < len(sector_names) else "business"
            rows.append(("folded", -1, unit_hop[u], unit_side[u], members[u], name))
    if dropped.size:
        codes, more = pd.factorize(pd.MultiIndex.from_arrays(
            [unit_hop[dropped], unit_side[dropped]]), sort=True)
        unit_node[dropped] = len(rows) + codes
        for j, (h, b) in enumerate(more):
            rows.append(("more", -1, h, b, int(members[dropped[codes == j]].sum()),
                         "payers" if b < 0 else "payees"))
    node_of[reached] = unit_node[unit[reached]]
    nodes = pd.DataFrame(rows, columns=["kind", "account", "hop", "side", "members", "group"])
    nodes.insert(0, "node", np.arange(len(nodes)))
    return Subgraph(nodes, edges_between(flows, node_of, nodes), node_of, hops)


def edges_between(flows: Flows, node_of: np.ndarray, nodes: pd.DataFrame) -> pd.DataFrame:
    """Payments between drawn nodes, summed per ordered pair of nodes; pairs of two group nodes
    and payments inside one group are left out."""
    ns, nd = node_of[flows.src], node_of[flows.dst]
    single = nodes["kind"].isin(["centre", "account"]).to_numpy()
    keep = (ns >= 0) & (nd >= 0) & (ns != nd)
    keep &= single[np.maximum(ns, 0)] | single[np.maximum(nd, 0)]
    frame = pd.DataFrame({"src": ns[keep], "dst": nd[keep], "amount": flows.amount[keep],
                          "t": flows.t[keep]})
    edges = frame.groupby(["src", "dst"], sort=True).agg(
        count=("amount", "size"), amount=("amount", "sum"), first=("t", "min"),
        last=("t", "max")).reset_index()
    return edges
