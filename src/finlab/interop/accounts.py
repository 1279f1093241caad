"""Accounts and cases of an import: stable ids from (bank, account key), the book of every account
seen with its first appearance, and cases derived from the laundering rows (connected
components) with each account's role in them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finlab.errors import InputError
from finlab.interop.columns import as_array

MASK63 = np.uint64((1 << 63) - 1)


def stable_ids(bank: pa.Array, key: pa.Array, salt: str = "account") -> np.ndarray:
    """Deterministic 63-bit ids of (bank, key) pairs: a keyed hash, so any block can be mapped alone
    and the same account gets the same id in every run."""
    bank = bank.cast(pa.string()) if pa.types.is_dictionary(bank.type) else bank
    key = key.cast(pa.string()) if pa.types.is_dictionary(key.type) else key
    joined = pc.binary_join_element_wise(salt, bank, key, "\x1f")
    h = pd.util.hash_array(joined.to_numpy(zero_copy_only=False), categorize=False)
    return (h & MASK63).astype(np.int64)


ACCOUNT_BOOK_COLUMNS = ["account_id", "first_ts", "bank_id", "country", "currency", "kind",
                        "original", "party_id"]
ACCOUNT_ATTRS = ACCOUNT_BOOK_COLUMNS[2:]


class AccountBook:
    """Every account seen so far, with its attributes where it first appeared and its earliest
    transaction time; new accounts wait in small blocks and are merged in now and then."""

    NEVER = np.iinfo(np.int64).max

    def __init__(self) -> None:
        self.table: pa.Table | None = None  # ACCOUNT_BOOK_COLUMNS, ordered by account_id
        self.ids = np.zeros(0, np.int64)
        self.first_ts = np.zeros(0, np.int64)
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def add(self, ids: np.ndarray, ts: np.ndarray, attrs: pa.Table) -> None:
        """Accounts `ids` seen at times `ts`; attrs (ACCOUNT_ATTRS, aligned with ids) is only
        materialised for accounts not seen before."""
        if len(self.ids):
            pos = np.searchsorted(self.ids, ids)
            known = self.ids[np.minimum(pos, len(self.ids) - 1)] == ids
            if known.any():
                np.minimum.at(self.first_ts, pos[known], ts[known])
            new = np.flatnonzero(~known)
        else:
            new = np.arange(len(ids))
        if not len(new):
            return
        order = new[np.lexsort((ts[new], ids[new]))]  # by id, then time: the first is the earliest
        first = order[np.r_[True, ids[order][1:] != ids[order][:-1]]]
        part = attrs.take(pa.array(first))
        part = part.add_column(0, "first_ts", pa.array(ts[first]))
        self.pending.append(part.add_column(0, "account_id", pa.array(ids[first])))
        self.pending_rows += len(first)
        if self.pending_rows > max(500_000, len(self.ids)):
            self.compact()

    def compact(self) -> pa.Table:
        """The book as one table ordered by account_id (pending accounts merged in)."""
        if self.pending:
            parts = self.pending
            if self.table is not None:
                parts = [self.table.set_column(1, "first_ts", pa.array(self.first_ts))] + parts
            both = pa.concat_tables(parts).combine_chunks()
            ids = both.column("account_id").to_numpy()
            order = np.lexsort((both.column("first_ts").to_numpy(), ids))
            ids = ids[order]
            first = np.r_[True, ids[1:] != ids[:-1]]
            again = np.flatnonzero(~first)
            if len(again):  # the same id twice must be the same account
                for col in ("bank_id", "original"):
                    c = both.column(col)
                    a = c.take(pa.array(order[again]))
                    b = c.take(pa.array(order[again - 1]))
                    if not pc.all(pc.equal(a, b)).as_py():
                        raise InputError(
                            f"two accounts share the id {ids[again[0]]}; this hash collision is "
                            "astronomically unlikely, please report it")
            self.table = both.take(pa.array(order[first]))
            self.ids = self.table.column("account_id").to_numpy()
            self.first_ts = self.table.column("first_ts").to_numpy().copy()
            self.pending, self.pending_rows = [], 0
        if self.table is None:
            types = [pa.int64()] * 2 + [pa.string()] * 5 + [pa.int64()]
            return pa.table({c: pa.array([], t)
                             for c, t in zip(ACCOUNT_BOOK_COLUMNS, types, strict=True)})
        self.table = self.table.set_column(1, "first_ts", pa.array(self.first_ts))
        return self.table


def account_attrs(n: int, *, bank, country, currency, kind, original, party_id=None) -> pa.Table:
    """Attributes of n account appearances (one side of a block, or an accounts file)."""
    cols = {"bank_id": bank, "country": country, "currency": currency, "kind": kind,
            "original": original}
    arrays = [as_array(v, n, pa.string()) for v in cols.values()]
    # -1: the account is a party of its own
    arrays.append(pa.array(np.asarray(party_id, np.int64) if party_id is not None
                           else np.full(n, -1, np.int64)))
    return pa.Table.from_arrays(arrays, names=ACCOUNT_ATTRS)


def components(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected component of each edge (a[i], b[i]) of a graph, numbered 0.. by first edge."""
    if len(a) == 0:
        return np.zeros(0, np.int64)
    nodes, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    u, v = inv[: len(a)], inv[len(a):]
    label = np.arange(len(nodes))
    while True:
        m = np.minimum(label[u], label[v])
        new = label.copy()
        np.minimum.at(new, u, m)
        np.minimum.at(new, v, m)
        new = new[new]  # pointer jumping halves the remaining distance
        if np.array_equal(new, label):
            break
        label = new
    comp = label[u]
    _, first = np.unique(comp, return_index=True)
    order = np.argsort(first)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[np.searchsorted(np.unique(comp), comp)]


def component_keys(susp: pd.DataFrame, by_typology: bool = True) -> pd.Series:
    """Case keys of laundering rows: connected components of their accounts (within a typology)."""
    if susp.empty:
        return pd.Series([], dtype=object, index=susp.index)
    typ = susp["typology"].astype(object).fillna("").to_numpy() if by_typology else \
        np.zeros(len(susp), object)
    t_codes, _ = pd.factorize(typ)
    accounts, acc_codes = np.unique(
        np.concatenate([susp["src_account"].to_numpy(), susp["dst_account"].to_numpy()]),
        return_inverse=True)
    n = len(susp)
    node_a = t_codes * len(accounts) + acc_codes[:n]
    node_b = t_codes * len(accounts) + acc_codes[n:]
    comp = components(node_a, node_b)
    return pd.Series([f"component:{c}" for c in comp], index=susp.index, dtype=object)


def roles(susp: pd.DataFrame) -> pd.DataFrame:
    """Account labels of laundering rows with case ids: sender, receiver or intermediary."""
    cols = ["account_id", "role", "typology", "case_id"]
    if susp.empty:
        return pd.DataFrame({"account_id": np.zeros(0, np.int64), "role": np.zeros(0, object),
                             "typology": np.zeros(0, object), "case_id": np.zeros(0, np.int64)})
    both = pd.concat([
        pd.DataFrame({"account_id": susp["src_account"], "case_id": susp["case_id"],
                      "typology": susp["typology"], "side": 1}),
        pd.DataFrame({"account_id": susp["dst_account"], "case_id": susp["case_id"],
                      "typology": susp["typology"], "side": 2}),
    ])
    g = both.groupby(["case_id", "account_id"], sort=True).agg(
        typology=("typology", "first"), side=("side", lambda s: int(np.bitwise_or.reduce(s))))
    g = g.reset_index()
    g["role"] = np.select([g["side"] == 1, g["side"] == 2], ["sender", "receiver"],
                          "intermediary")
    return g[cols]
