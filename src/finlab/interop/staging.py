"""On-disk staging of an import: converted rows parked in scratch Arrow files until cases are
known, then read back in time order."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from finlab.interop.columns import DICT

STAGE = pa.schema([
    ("txn_id", pa.int64()), ("ts", pa.int64()), ("src_account", pa.int64()),
    ("dst_account", pa.int64()), ("src_bank", DICT), ("dst_bank", DICT), ("src_country", DICT),
    ("dst_country", DICT), ("amount", pa.float64()), ("currency", DICT),
    ("amount_base", pa.float64()), ("channel", DICT), ("reference", DICT),
    ("is_suspicious", pa.bool_()), ("typology", DICT),
])


class Stage:
    """Converted rows parked in scratch Arrow files (one per block, lz4) with each block's time
    range, until cases are known and the order is settled."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.blocks: list[Path] = []
        self.ranges: list[tuple[int, int, bool]] = []
        self.rows = 0
        self.options = pa.ipc.IpcWriteOptions(compression="lz4")

    def append(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        path = self.folder / f"block{len(self.blocks):06d}.arrow"
        with pa.ipc.new_file(path, table.schema, options=self.options) as w:
            w.write_table(table)
        self.blocks.append(path)
        ts = table.column("ts").to_numpy()
        self.ranges.append((int(ts.min()), int(ts.max()), bool(np.all(ts[1:] >= ts[:-1]))))
        self.rows += table.num_rows

    def read(self, i: int, columns: list[str] | None = None) -> pa.Table:
        """Staged block i (or some of its columns)."""
        with pa.ipc.open_file(self.blocks[i]) as f:
            t = f.read_all()
        return t.select(columns) if columns else t

    @property
    def in_order(self) -> bool:
        """Whether the rows arrived in time order (then no sorting is needed)."""
        return all(s for *_, s in self.ranges) and all(
            a[1] <= b[0] for a, b in itertools.pairwise(self.ranges))

    def ordered(self, max_rows: int) -> Iterator[pa.Table]:
        """Every row in time order, ties in input order: the blocks as they are when the input was
        ordered, else time buckets of at most about max_rows rows, each sorted in memory."""
        if self.in_order:
            for i in range(len(self.blocks)):
                yield self.read(i)
            return
        lo = min(r[0] for r in self.ranges)
        hi = max(r[1] for r in self.ranges) + 1
        nbins = 4096
        counts = np.zeros(nbins, np.int64)
        for i in range(len(self.blocks)):
            ts = self.read(i, ["ts"]).column("ts").to_numpy()
            counts += np.bincount((ts - lo) * nbins // (hi - lo), minlength=nbins)
        edges, acc = [0], 0
        for b, c in enumerate(counts):  # over 4096 histogram bins, not over rows
            if acc and acc + c > max_rows:
                edges.append(b)
                acc = 0
            acc += c
        edges.append(nbins)
        for b0, b1 in itertools.pairwise(edges):
            t0 = lo + -(-b0 * (hi - lo) // nbins)
            t1 = lo + -(-b1 * (hi - lo) // nbins)
            parts = []
            for i, (rmin, rmax, _) in enumerate(self.ranges):
                if rmax < t0 or rmin >= t1:
                    continue
                g = self.read(i)
                ts = g.column("ts")
                parts.append(g.filter(pc.and_(pc.greater_equal(ts, t0), pc.less(ts, t1))))
            if parts:
                part = pa.concat_tables(parts).unify_dictionaries().combine_chunks()
                order = np.argsort(part.column("ts").to_numpy(), kind="stable")
                part = part.take(order)
                for s in range(0, part.num_rows, 1 << 20):
                    yield part.slice(s, 1 << 20)
