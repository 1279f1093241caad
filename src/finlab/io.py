"""Reading and writing dataset directories: Parquet with zstd, a manifest, atomic publication.

Writers fill a temporary sibling directory and rename it into place only when everything is
written, so an interrupted run never leaves a half-written dataset behind.
"""

from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from finlab.errors import InputError
from finlab.integrity import sha256
from finlab.outputs import KEY, check_output, publish
from finlab.remote import PartSink, filesystem, is_url
from finlab.schema import LABELS, OBSERVABLES, Dataset, Labels, storage_schema
from finlab.scratch import WorkDir
from finlab.version import __version__

COMPRESSION = "zstd"
MANIFEST = "manifest.json"


#: numeric columns whose values repeat (account ids); the rest are near unique or tiny
_REPEATING_NUMBERS = {"src_account", "dst_account", "party_id", "household_id", "case_id"}


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary encoding: text, and numbers that repeat. Dictionaries on
    near-unique columns (txn ids, timestamps, amounts) cost time and make files larger."""
    return [f.name for f in schema
            if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)
            or f.name in _REPEATING_NUMBERS]


def to_arrow(df: pd.DataFrame | pa.Table, schema: pa.Schema) -> pa.Table:
    """A table in exactly the schema's column order and types (no pandas metadata)."""
    if isinstance(df, pd.DataFrame):
        table = pa.Table.from_pandas(df, preserve_index=False)
    else:
        table = df
    columns = []
    for f in schema:
        col = table.column(f.name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        columns.append(col.cast(f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as one Parquet file in memory, written exactly as DatasetWriter writes files."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=COMPRESSION,
                   use_dictionary=_dictionary_columns(table.schema))
    return sink.getvalue().to_pybytes()


class DatasetWriter:
    """Writes a dataset directory table by table; transactions may arrive in many blocks.

    Use as a context manager: on success the directory appears at `out` with its manifest;
    on any error the temporary directory is removed and `out` is untouched.
    """

    def __init__(self, out: Path | str, *, force: bool = False, manifest: dict | None = None,
                 work: WorkDir | None = None):
        """`out` follows finlab.outputs.check_output: with `force` only a finlab output goes.
        `work`: an open WorkDir to build in (else the writer opens its own)."""
        self.out = Path(out)
        self._given_work = work
        self.force = force
        self.manifest = dict(manifest or {})
        self.row_counts: dict[str, int] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}

    def __enter__(self) -> Self:
        check_output(self.out, force=self.force)
        self._work = self._given_work or WorkDir(self.out).__enter__()
        self.tmp = self._work.path / "out"
        self.tmp.mkdir()
        (self.tmp / "labels").mkdir()
        return self

    def _path(self, rel: str) -> Path:
        return self.tmp / f"{rel}.parquet"

    def write(self, rel: str, table: pa.Table) -> None:
        """Write a whole table, e.g. rel="accounts" or rel="labels/cases"."""
        pq.write_table(table, self._path(rel), compression=COMPRESSION,
                       use_dictionary=_dictionary_columns(table.schema))
        self.row_counts[rel] = table.num_rows

    def append(self, rel: str, table: pa.Table) -> None:
        """Append a block of rows to a table written in pieces (one row group per block)."""
        writer = self._writers.get(rel)
        if writer is None:
            writer = pq.ParquetWriter(self._path(rel), table.schema, compression=COMPRESSION,
                                      use_dictionary=_dictionary_columns(table.schema))
            self._writers[rel] = writer
            self.row_counts.setdefault(rel, 0)
        if table.num_rows:
            writer.write_table(table)
        self.row_counts[rel] += table.num_rows

    def sink(self):
        """Where tasks put parts of tables (`rel` paths inside the unpublished directory)."""
        return PartSink(str(self.tmp.absolute()))

    def record(self, rel: str, rows: int, digest: str) -> None:
        """Count the rows of a part a task wrote through sink() (its checksum is taken again
        from the file when the manifest is written)."""
        table = rel.rsplit("/part-", 1)[0].removesuffix(".parquet")
        self.row_counts[table] = self.row_counts.get(table, 0) + rows

    def write_dataset(self, ds: Dataset) -> None:
        """Write every table of an in-memory dataset."""
        for name, schema in OBSERVABLES.items():
            self.write(name, to_arrow(ds.table(name), storage_schema(schema)))
        if ds.labels is not None:
            for name, schema in LABELS.items():
                df = getattr(ds.labels, name)
                if df is not None:
                    self.write(f"labels/{name}", to_arrow(df, storage_schema(schema)))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            for w in self._writers.values():
                w.close()
            if exc_type is None:
                self._publish()
        finally:
            if self._given_work is None:
                self._work.__exit__(exc_type, exc, tb)

    def _publish(self) -> None:
        """Write the manifest and move the finished directory into place."""
        files = {p.relative_to(self.tmp).as_posix(): p for p in self.tmp.rglob("*.parquet")}
        checksums = {rel: sha256(p) for rel, p in files.items()}
        (self.tmp / MANIFEST).write_text(manifest_text(self.manifest, self.row_counts, checksums))
        publish(self.tmp, self.out, self._work.path / "replaced")


def manifest_text(manifest: dict, row_counts: dict, checksums: dict) -> str:
    """manifest.json of a dataset: finlab's stamp, the given entries, rows and checksums."""
    body = {
        KEY: "dataset",
        "finlab_version": __version__,
        **manifest,
        "row_counts": dict(sorted(row_counts.items())),
        "checksums": dict(sorted(checksums.items())),
    }
    return json.dumps(body, indent=2, sort_keys=False) + "\n"


class RemoteDatasetWriter:
    """DatasetWriter's counterpart for a URL `--out` (s3://, gs://, memory://, ...): files go to a
    hidden sibling prefix, which is moved onto `out` only when the manifest is written."""

    def __init__(self, out: str, *, force: bool = False, manifest: dict | None = None):
        self.out, self.force = out.rstrip("/"), force
        self.manifest = dict(manifest or {})
        self.row_counts: dict[str, int] = {}
        self.checksums: dict[str, str] = {}

    def check(self) -> None:
        """Refuse, before any work, an output that exists (without --force) or that finlab did
        not write."""
        self.fs, self.path = filesystem(self.out)
        if self.fs.get_file_info(self.path).type != pafs.FileType.NotFound:
            marker = self.fs.get_file_info(f"{self.path}/{MANIFEST}")
            if not self.force:
                raise InputError(f"{self.out}: already exists; pass --force to replace a dataset "
                                 "finlab wrote")
            if marker.type != pafs.FileType.File:
                raise InputError(f"{self.out}: exists and is not a finlab dataset; --force "
                                 "replaces only what finlab wrote")

    def __enter__(self) -> Self:
        self.check()
        parent, name = self.out.rsplit("/", 1)
        self.tmp = f"{parent}/.finlab-tmp-{name}-{secrets.token_hex(6)}"
        self.tmp_path = filesystem(self.tmp)[1]
        return self

    def sink(self) -> PartSink:
        return PartSink(self.tmp)

    def write(self, rel: str, table: pa.Table) -> None:
        rel = f"{rel}.parquet"
        self.record(rel, table.num_rows, self.sink().put(rel, parquet_bytes(table)))

    def record(self, rel: str, rows: int, digest: str) -> None:
        table = rel.rsplit("/part-", 1)[0].removesuffix(".parquet")
        self.row_counts[table] = self.row_counts.get(table, 0) + rows
        self.checksums[rel] = digest

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                text = manifest_text(self.manifest, self.row_counts, self.checksums)
                self.sink().put(MANIFEST, text.encode())
                if self.fs.get_file_info(self.path).type != pafs.FileType.NotFound:
                    self.fs.delete_dir(self.path)
                self.fs.move(self.tmp_path, self.path)
        finally:
            if self.fs.get_file_info(self.tmp_path).type != pafs.FileType.NotFound:
                self.fs.delete_dir(self.tmp_path)


def open_writer(out: Path | str, *, force: bool = False, manifest: dict | None = None):
    """A dataset writer for a local directory or a filesystem URL."""
    if is_url(out):
        return RemoteDatasetWriter(str(out), force=force, manifest=manifest)
    return DatasetWriter(out, force=force, manifest=manifest)


@contextmanager
def atomic_file(path: Path | str):
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on failure
    removed, so a reader never sees a half-written file. The temporary file is created
    exclusively (not with mkstemp) so the result gets the usual umask-based permissions."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        open(tmp, "xb").close()
    except OSError as e:
        raise InputError(f"{path}: cannot be written ({e.strerror})") from None
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save(ds: Dataset, out: Path | str, *, force: bool = False, manifest: dict | None = None) -> Path:
    """Write an in-memory Dataset to a directory (atomically)."""
    with DatasetWriter(out, force=force, manifest=manifest or ds.manifest) as w:
        w.write_dataset(ds)
    return Path(out)


def read_table(path: Path, schema: pa.Schema) -> pd.DataFrame:
    """Read a table (a file, or a directory of parts) with string columns as categoricals;
    a truncated, empty or foreign file is one line naming it."""
    strings = [f.name for f in schema if pa.types.is_string(f.type)]
    source = path if path.is_dir() else path.with_suffix(".parquet")
    tables = []
    for part in table_files(source) if source.is_dir() else [source]:  # parts in order
        try:
            tables.append(pq.read_table(part, read_dictionary=strings))
        except (pa.ArrowException, OSError) as e:
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"{part}: not a readable Parquet file ({why})") from None
    if not tables:
        raise InputError(f"{source}: no Parquet parts in this directory")
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise InputError(f"{source}: lacks column(s) {', '.join(missing)}; is this a finlab "
                         "dataset?")
    frame = table.to_pandas()
    del table, tables
    # Arrow's allocator keeps the pages of the freed parts; hand them back, or a 17M-payment
    # dataset holds 2 GiB more than its frame for the rest of the process.
    pa.default_memory_pool().release_unused()
    return frame


def locate_table(root: Path, rel: str) -> Path | None:
    """Where a dataset's table is stored: `rel`.parquet, or a directory `rel` of parts; None
    when it has neither."""
    for candidate in (root / f"{rel}.parquet", root / rel):
        if candidate.exists():
            return candidate
    return None


def require_table(root: Path, rel: str) -> Path:
    """Like locate_table, for a table every dataset has: its absence is one clear error."""
    path = locate_table(root, rel)
    if path is None:
        raise InputError(f"{root}: {rel}.parquet is missing; is this a finlab dataset?")
    return path


def table_files(path: Path) -> list[Path]:
    """The Parquet files of a located table: the file itself, or a directory's parts in order."""
    return sorted(path.rglob("*.parquet")) if path.is_dir() else [path]


def load(path: Path | str, *, labels: bool = True, verify: bool = True) -> Dataset:
    """Load a dataset directory written by finlab (generated or imported). With `verify` (the
    default) every file is first checked against the manifest's checksums, naming the one that
    differs; verify=False skips that for speed."""
    from finlab import integrity

    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{root}: no such dataset directory")
    manifest = integrity.read_manifest(root, MANIFEST)
    if verify:
        integrity.verify(root, manifest)
    tables = {}
    for name, schema in OBSERVABLES.items():
        tables[name] = read_table(require_table(root, name), schema)
    label_tables = None
    if labels and (root / "labels").is_dir():
        found = {}
        for name, schema in LABELS.items():
            p = locate_table(root / "labels", name)
            found[name] = read_table(p, schema) if p is not None else None
        if found["transactions"] is not None:
            label_tables = Labels(
                transactions=found["transactions"],
                accounts=found["accounts"] if found["accounts"] is not None else
                LABELS["accounts"].empty_table().to_pandas(),
                cases=found["cases"] if found["cases"] is not None else
                LABELS["cases"].empty_table().to_pandas(),
                party_attributes=found["party_attributes"],
                observed=found["observed"],
            )
    return Dataset(**tables, labels=label_tables, manifest=manifest)
