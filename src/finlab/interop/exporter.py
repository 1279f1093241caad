"""Exporting a finlab dataset in a foreign format: the dataset read for export (transactions
streamed with their labels) and what the format writers share (unquoted CSV output, payment
words, times as text)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from finlab import integrity
from finlab.errors import InputError
from finlab.interop.columns import EUR_RATES, remap
from finlab.interop.formats import Progress, get_format, quiet
from finlab.io import MANIFEST, locate_table, require_table, table_files
from finlab.outputs import check_output, mark, publish
from finlab.schema import ACCOUNT_LABELS, CASE_LABELS
from finlab.scratch import WorkDir


def _parquet(read, path: Path):
    """read(path), with a truncated, empty or foreign file as one line naming it."""
    try:
        return read(path)
    except (pa.ArrowException, OSError) as e:
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a readable Parquet file ({why})") from None


def _read_small(root: Path, rel: str) -> pd.DataFrame:
    table = pa.concat_tables([_parquet(pq.read_table, p) for p in
                              table_files(require_table(root, rel))])
    df = table.to_pandas()
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(object)
    return df


class DatasetReader:
    """A finlab dataset read for export: small tables in memory, transactions streamed in blocks
    together with their labels (only the labelled rows are held in memory)."""

    def __init__(self, path: Path | str) -> None:
        self.root = Path(path)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: no such dataset directory")
        self._originals: dict[str, pd.Series | None] = {}
        self.manifest = integrity.read_manifest(self.root, MANIFEST)
        integrity.verify(self.root, self.manifest)
        self.countries = _read_small(self.root, "countries")
        self.banks = _read_small(self.root, "banks")
        self.parties = _read_small(self.root, "parties")
        self.accounts = _read_small(self.root, "accounts")
        self.txn_files = table_files(require_table(self.root, "transactions"))
        labels = self.root / "labels"
        self.has_labels = locate_table(labels, "transactions") is not None
        self.cases = _read_small(labels, "cases") if (labels / "cases.parquet").exists() else \
            CASE_LABELS.empty_table().to_pandas()
        self.account_labels = _read_small(labels, "accounts") if (
            labels / "accounts.parquet").exists() else ACCOUNT_LABELS.empty_table().to_pandas()
        self.labelled = self._labelled()
        self._flags = self.labelled["is_suspicious"].to_numpy(bool)
        self._cases = self.labelled["case_id"].fillna(-1).to_numpy(np.int64)
        self._typologies = pa.array(self.labelled["typology"].to_numpy(object), pa.string())
        self.account_index = pd.Index(self.accounts["account_id"].to_numpy(np.int64))
        self.n_rows = sum(_parquet(pq.ParquetFile, p).metadata.num_rows for p in self.txn_files)

    def _labelled(self) -> pd.DataFrame:
        """Rows of labels/transactions that say something (suspicious or with a typology)."""
        cols = ["txn_id", "is_suspicious", "typology", "case_id"]
        if not self.has_labels:
            return pd.DataFrame(columns=cols).set_index("txn_id")
        parts = []
        for p in table_files(require_table(self.root / "labels", "transactions")):
            f = pq.ParquetFile(p)
            for i in range(f.num_row_groups):
                t = f.read_row_group(i, columns=cols)
                keep = pc.or_(t.column("is_suspicious"), t.column("typology").is_valid())
                parts.append(t.filter(keep).to_pandas())
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
        df["typology"] = df["typology"].astype(object)
        return df.set_index("txn_id")

    def start(self, unit: str) -> int:
        """Step 0 of a step-counted export: midnight (UTC) of the first transaction's day."""
        for p in self.txn_files:
            f = pq.ParquetFile(p)
            if f.metadata.num_rows:
                ts = f.read_row_group(0, columns=["ts"]).column("ts")
                ts = ts.cast(pa.timestamp("s", tz="UTC")).cast(pa.int64())
                return int(ts.to_numpy()[0]) // 86400 * 86400
        return 0

    def blocks(self, rows: int = 1 << 20) -> Iterator[pa.Table]:
        """Transactions in dataset order (ts as seconds) with is_suspicious, typology (text or
        null) and case_id (-1 for none) from the labels."""
        lab = self.labelled
        for p in self.txn_files:
            for rb in pq.ParquetFile(p).iter_batches(batch_size=rows):
                t = pa.Table.from_batches([rb])
                t = t.set_column(1, "ts", t.column("ts").cast(pa.timestamp("s", tz="UTC"))
                                 .cast(pa.int64()))
                pos = lab.index.get_indexer(t.column("txn_id").to_numpy())
                hit = pos >= 0
                n = t.num_rows
                flagged = np.zeros(n, bool)
                flagged[hit] = self._flags[pos[hit]]
                case = np.full(n, -1, np.int64)
                case[hit] = self._cases[pos[hit]]
                typology = self._typologies.take(pa.array(np.maximum(pos, 0), mask=~hit))
                t = t.append_column("is_suspicious", pa.array(flagged))
                t = t.append_column("typology", typology)
                yield t.append_column("case_id", pa.array(case))

    def positions(self, ids: np.ndarray | pa.Array) -> np.ndarray:
        """Row of each account id in the accounts table."""
        if isinstance(ids, (pa.Array, pa.ChunkedArray)):
            ids = ids.to_numpy()
        pos = self.account_index.get_indexer(ids)
        if (pos < 0).any():
            raise InputError(f"{self.root}: transactions name account {ids[pos < 0][0]} that "
                             "accounts.parquet lacks")
        return pos

    def by_account(self, ids: np.ndarray | pa.Array, values) -> pa.DictionaryArray:
        """values (one per account, in accounts-table order) looked up for each id, as a
        dictionary column (no per-row Python objects)."""
        values = values if isinstance(values, pa.Array) else pa.array(
            np.asarray(values, dtype=object), pa.string())
        return pa.DictionaryArray.from_arrays(pa.array(self.positions(ids).astype(np.int32)),
                                              values)

    def originals(self, fmt: str, what: str = "accounts") -> pd.Series | None:
        """The source's own ids (of accounts or parties) when this dataset was imported from
        `fmt`, indexed by finlab id."""
        if what not in self._originals:
            path = self.root / "interop" / f"{what}.parquet"
            found = None
            if self.manifest.get("interop", {}).get("format") == fmt and path.exists():
                t = pq.read_table(path).to_pandas()
                found = t.set_index(t.columns[0])["original"].astype(str)
            self._originals[what] = found
        return self._originals[what]

    def id_text(self, fmt: str, ids: np.ndarray, render: Callable[[np.ndarray], np.ndarray],
                what: str = "accounts") -> np.ndarray:
        """Ids as the format writes them: the source's own ids for a dataset imported from that
        format, else render(finlab ids)."""
        orig = self.originals(fmt, what)
        if orig is None:
            return render(ids)
        text = orig.reindex(ids)
        missing = text.isna().to_numpy()
        out = text.to_numpy(dtype=object)
        if missing.any():
            out[missing] = render(np.asarray(ids)[missing])
        return out

    def fx_rates(self) -> dict[str, float]:
        """EUR value of one unit of each currency: the scenario's rates where known."""
        sc = self.manifest.get("scenario") or {}
        rates = dict(EUR_RATES)
        rates.update(sc.get("fx_rates") or {})
        if sc.get("base_currency"):
            rates[sc["base_currency"]] = 1.0
        return rates


def clean_text(values: np.ndarray | pd.Series) -> np.ndarray:
    """Free text safe for an unquoted CSV field: commas, quotes and line breaks become spaces."""
    return pd.Series(values, dtype=object).astype(str).str.replace(
        r'[,"\r\n]', " ", regex=True).to_numpy()


class CsvOut:
    """An unquoted CSV file written block by block (the header is written as given, so repeated
    names such as AMLworld's two "Account" columns are kept)."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self.header = list(header)
        self.f = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.f.write((",".join(header) + "\n").encode())
        self.options = pacsv.WriteOptions(include_header=False, quoting_style="none")

    def write(self, columns: Sequence) -> None:
        arrays = [c if isinstance(c, (pa.Array, pa.ChunkedArray)) else pa.array(c)
                  for c in columns]
        table = pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
        pacsv.write_csv(table, self.f, self.options)

    def close(self) -> None:
        self.f.close()


def payment_words(t: pa.Table, words, by_channel: dict[str, str],
                  cash: tuple[str, str] | None = None, to_cash: pa.Array | None = None
                  ) -> pa.Array:
    """A format's word for each row's kind of payment: the row's reference when it is one of the
    format's words (a dataset imported from that format keeps it there), else by channel; cash is
    cash[0] (a withdrawal) when to_cash (one flag per row: the payee is a cash account) else
    cash[1] (a deposit)."""
    reference = t.column("reference").combine_chunks().cast(pa.string())
    channel = t.column("channel").combine_chunks()
    other = remap(channel, by_channel).cast(pa.string())
    if cash is not None:
        other = pc.if_else(pc.equal(channel.cast(pa.string()), "cash"),
                           pc.if_else(to_cash, *cash), other)
    return pc.if_else(pc.is_in(reference, value_set=pa.array(list(words))), reference, other)


def format_times(ts: np.ndarray, fmt: str, unit: int = 1) -> pa.Array:
    """Seconds since the epoch as text (`fmt`, strftime codes), truncated to `unit` seconds;
    each distinct value is formatted once."""
    keys, inv = np.unique(ts // unit, return_inverse=True)
    words = pc.strftime(pa.array(keys * unit, pa.int64()).cast(pa.timestamp("s", tz="UTC")),
                        format=fmt)
    return pa.DictionaryArray.from_arrays(pa.array(inv.astype(np.int32)), words).cast(pa.string())


def export_dataset(name: str, dataset: Path | str, out: Path | str, *, layout: str | None = None,
                   force: bool = False, progress: Progress = quiet) -> dict:
    """Write a finlab dataset directory in a foreign format into directory `out` (atomically)."""
    fmt = get_format(name)
    layout = layout or fmt.layouts[0]
    if layout not in fmt.layouts:
        raise InputError(f"unknown layout {layout!r} for {name}; known: {', '.join(fmt.layouts)}")
    began = time.perf_counter()
    out = check_output(out, force=force, inputs=[dataset])
    ds = DatasetReader(dataset)
    with WorkDir(out) as work:
        tmp = work.path / "out"
        tmp.mkdir()
        files = fmt.export(ds, tmp, layout, progress)
        mark(tmp, "export")
        publish(tmp, out, work.path / "replaced")
    summary = {"out": str(out), "format": name, "layout": layout, "files": files,
               "rows": ds.n_rows, "seconds": time.perf_counter() - began}
    if fmt.steps:
        start = ds.start(fmt.time_unit)
        summary["start"] = dt.datetime.fromtimestamp(start, dt.UTC).date().isoformat()
    return summary
