"""Features, rules and model scores over partitioned data, in shards by account hash.

A shard holds every payment in and out of its accounts (so a payment between two shards is in
both), which is all a per-account feature needs. Global graph features (PageRank, cycles) come
from the pair graph instead: one edge per payer-payee pair with its summed amount, aggregated
from the shards and much smaller than the payments. Each shard then computes its accounts'
features as of the cutoff and scores them; the results equal the in-memory path's.
"""

from __future__ import annotations

import dataclasses
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from finlab.detectors.base import Detector, cached
from finlab.features import (
    DEFAULT_WINDOWS,
    FEATURE_GROUPS,
    Ledger,
    build_ledger,
    check_windows,
    empty_ledger,
    feature_names,
    ledger_features,
)
from finlab.io import locate_table, read_table, require_table, table_files
from finlab.schema import OBSERVABLES, TRANSACTIONS, Dataset

#: payments a shard should hold at most (memory per task stays around a GiB or two)
SHARD_ROWS = 4_000_000

#: feature groups computed on the global pair graph rather than per shard
GLOBAL_GROUPS = ("graph",)


def shard_of(account_id: np.ndarray, n: int) -> np.ndarray:
    """The shard of each account id: a multiplicative hash, so id ranges spread evenly."""
    mixed = np.asarray(account_id).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((mixed >> np.uint64(32)) % np.uint64(n)).astype(np.int64)


def split_part(part: str, index: int, n: int, scratch: str) -> None:
    """Copy the payments of one part into every shard that holds one of their accounts."""
    table = pq.read_table(part)
    src = shard_of(table.column("src_account").to_numpy(), n)
    dst = shard_of(table.column("dst_account").to_numpy(), n)
    for s in range(n):
        rows = (src == s) | (dst == s)
        if rows.any():
            out = Path(scratch) / f"shard-{s:04d}" / f"part-{index:05d}.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.filter(pa.array(rows)), out)


def small_tables(root: str) -> dict[str, pd.DataFrame]:
    """Countries, banks, parties and accounts of a dataset directory."""
    return {name: read_table(require_table(Path(root), name), OBSERVABLES[name])
            for name in ("countries", "banks", "parties", "accounts")}


def shard_dataset(root: str, scratch: str, s: int, as_of: pd.Timestamp) -> Dataset:
    """A shard's payments (in time order, as in the dataset) with every account, as of a cutoff."""
    found = locate_table(Path(scratch), f"shard-{s:04d}")
    tx = (read_table(found, TRANSACTIONS) if found is not None
          else TRANSACTIONS.empty_table().to_pandas())
    return Dataset(**small_tables(root), transactions=tx, manifest={"as_of": str(as_of)})


def pair_edges(root: str, scratch: str, s: int, n: int, as_of: pd.Timestamp,
               days: list[int]) -> list[pd.DataFrame]:
    """The shard's outgoing pair graph over each of the last `days` before the cutoff: one row
    per (payer, payee) with the summed amount; each payment counts once, in its payer's shard."""
    lg = build_ledger(shard_dataset(root, scratch, s, as_of))
    mine = shard_of(lg.account_id[lg.src], n) == s
    graphs = []
    for d in days:
        keep = mine.copy()
        keep[:lg.since(d)] = False
        graphs.append(pd.DataFrame({"src": lg.src[keep], "dst": lg.dst[keep],
                                    "amount": lg.amount[keep]})
                      .groupby(["src", "dst"], sort=True, as_index=False)["amount"].sum())
    return graphs


def global_features(edges: pd.DataFrame, account_id: np.ndarray, as_of: int,
                    windows: Sequence[int]) -> pd.DataFrame:
    """The global graph features of every account from the aggregated pair graph."""
    base = empty_ledger()
    lg = dataclasses.replace(
        base, as_of=as_of, account_id=account_id,
        src=edges["src"].to_numpy(np.int32), dst=edges["dst"].to_numpy(np.int32),
        t=np.full(len(edges), as_of - 1, np.int64), amount=edges["amount"].to_numpy(np.float64))
    columns = {}
    for name in GLOBAL_GROUPS:
        columns.update(FEATURE_GROUPS.get(name)(lg, windows))
    return pd.DataFrame(columns, index=pd.Index(account_id, name="account_id")).astype(np.float64)


def shard_features(lg: Ledger, windows: Sequence[int], graph: pd.DataFrame) -> pd.DataFrame:
    """Every account's features from the shard's ledger plus the global graph columns, in the
    in-memory column order (correct for the shard's own accounts)."""
    groups = [g for g in FEATURE_GROUPS.names() if g not in GLOBAL_GROUPS]
    local = ledger_features(lg, windows, groups)
    frame = pd.concat([local, graph.reindex(local.index)], axis=1)
    return frame[feature_names(windows)]


def detector_windows(det: Detector | None) -> list[tuple[int, ...]]:
    """The feature windows a detector asks for (a rule file names its own; models and plain
    features use the default windows); the first is the one `sharded` returns features of."""
    if det is not None and hasattr(det, "rule_sets"):
        return sorted({check_windows(rs.spec.windows) for rs in det.rule_sets()})
    return [check_windows(DEFAULT_WINDOWS)]


def score_shard(root: str, scratch: str, s: int, n: int, as_of: pd.Timestamp,
                graphs: dict, det: Detector | None, top: int):
    """One shard: its accounts' features (the first windows of `graphs`), and with a fitted
    detector their scores and the explanations of the shard's `top` scores."""
    ds = shard_dataset(root, scratch, s, as_of)
    lg = build_ledger(ds)
    frames = {w: shard_features(lg, w, graphs[w]) for w in graphs}
    first = frames[next(iter(frames))]
    mine = shard_of(first.index.to_numpy(), n) == s
    scores = explained = None
    if det is not None:  # the detector finds ledger and features where ledger_for/features_for look
        cached(ds, ("ledger",), lambda: lg)
        for w, frame in frames.items():
            cached(ds, ("features", w), lambda frame=frame: frame)
        all_scores = det.score(ds)
        scores = all_scores[shard_of(all_scores.index.to_numpy(), n) == s]
        explained = det.explain(ds, scores.nlargest(top).index)
    return first[mine], scores, explained


def end_of(parts: list[str]) -> pd.Timestamp:
    """One second after the last payment of the parts (the in-memory default cutoff)."""
    import pyarrow.compute as pc

    last = max(pd.Timestamp(pc.max(pq.read_table(p, columns=["ts"]).column("ts")).as_py())
               for p in parts if pq.read_metadata(p).num_rows)
    if last.tzinfo is None:
        last = last.tz_localize("UTC")
    return last.tz_convert("UTC").floor("s") + pd.Timedelta(seconds=1)


def sharded(client, dataset: Path | str, *, det: Detector | None = None, shards: int = 0,
            top: int = 10, as_of: pd.Timestamp | None = None):
    """Features of every account of a dataset directory (default windows; with a detector,
    the first windows it asks for), and with a fitted detector its scores and top explanations, computed in shards on `client`'s workers.
    Returns (features, scores, explanations); the last two are None without a detector."""
    root = str(Path(dataset).absolute())
    parts = [str(p) for p in table_files(require_table(Path(root), "transactions"))]
    rows = sum(pq.read_metadata(p).num_rows for p in parts)
    # a payment sits in up to two shards: about 2 x rows / n payments per shard
    n = shards or max(2 * len(client.scheduler_info()["workers"]), -(-2 * rows // SHARD_ROWS), 1)
    if as_of is None:
        as_of = end_of(parts)
    scratch = Path(root).parent / f".finlab-tmp-shards-{secrets.token_hex(6)}"
    try:
        client.gather(client.map(split_part, parts, range(len(parts)), n=n,
                                 scratch=str(scratch), pure=False, retries=2))
        accounts = small_tables(root)["accounts"]["account_id"].to_numpy(np.int64)
        account_id = np.sort(accounts)
        cutoff = int(as_of.timestamp())
        wanted = detector_windows(det)
        per_shard = client.gather(client.map(
            pair_edges, [root] * n, [str(scratch)] * n, range(n), n=n, as_of=as_of,
            days=[max(w) for w in wanted], pure=False, retries=2))
        graphs = {}
        for i, w in enumerate(wanted):
            edges = pd.concat([g[i] for g in per_shard], ignore_index=True)
            edges = edges.groupby(["src", "dst"], sort=True, as_index=False)["amount"].sum()
            graphs[w] = global_features(edges, account_id, cutoff, w)
        # sent once to every worker, as data (a dict keyed by tuples would read as tasks)
        shared = client.scatter([graphs, det], broadcast=True, hash=False)
        futures = client.map(score_shard, [root] * n, [str(scratch)] * n, range(n), n=n,
                             as_of=as_of, graphs=shared[0], det=shared[1], top=top, pure=False,
                             retries=2)
        results = client.gather(futures)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    features = pd.concat([r[0] for r in results]).sort_index()
    if det is None:
        return features, None, None
    scores = pd.concat([r[1] for r in results]).sort_index()
    best = scores.nlargest(top).index
    explained = pd.concat([r[2] for r in results], ignore_index=True)
    explained = explained[explained.iloc[:, 0].isin(best)].reset_index(drop=True)
    return features, scores, explained
