"""Importing a foreign dataset into a finlab dataset directory, streamed with bounded memory.

Each block the format's reader yields is checked and converted, its accounts are remembered and
its rows are parked in scratch files; once every row has been seen, cases are derived from the
(few) laundering rows and the rows are written in time order through `finlab.io.DatasetWriter`.
"""

from __future__ import annotations

import datetime as dt
import json
import tarfile
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finlab.errors import InputError
from finlab.interop.accounts import AccountBook, account_attrs, roles, stable_ids
from finlab.interop.columns import DICT, eur_rate, unknown_rates
from finlab.interop.csv_reader import CsvFile, prefetched, read_head
from finlab.interop.formats import UNIT_SECONDS, Format, Progress, get_format, quiet
from finlab.interop.staging import STAGE, Stage
from finlab.io import DatasetWriter, to_arrow
from finlab.outputs import MARKER, check_output
from finlab.schema import (
    ACCOUNT_LABELS,
    ACCOUNTS,
    BANKS,
    CASE_LABELS,
    COUNTRIES,
    PARTIES,
    TRANSACTION_LABELS,
    TRANSACTIONS,
    storage_schema,
)
from finlab.scratch import PREFIX as SCRATCH_PREFIX
from finlab.scratch import WorkDir

DEFAULT_START = dt.datetime(2017, 1, 1, tzinfo=dt.UTC)  # AMLSim's default base date


@dataclass
class ImportOptions:
    """How to import: bad-line policy, time of step 0 for formats counted in steps, block size."""

    skip_bad_lines: bool = False
    start: dt.datetime | None = None
    block_size: int = 8 << 20
    max_sort_rows: int = 4_000_000
    progress: Progress = quiet


def _listed(directory: Path) -> list[Path]:
    """A directory's files, without finlab's own markers and temporary folders."""
    return [f for f in sorted(directory.rglob("*")) if f.is_file() and f.name != MARKER
            and not any(part.startswith(SCRATCH_PREFIX) for part in f.relative_to(directory).parts)]


def input_files(paths: Sequence[Path | str], scratch: Path) -> list[tuple[Path, bool]]:
    """Files named on the command line, each with whether it was named itself: directories give
    their files, archives (.tgz, .tar.gz, .tar) are unpacked into folders inside `scratch`."""
    files: list[tuple[Path, bool]] = []
    for n, p in enumerate(map(Path, paths)):
        if p.is_dir():
            files.extend((f, False) for f in _listed(p))
        elif p.name.endswith((".tgz", ".tar.gz", ".tar")):
            tmp = scratch / f"archive-{n}"
            tmp.mkdir()
            try:
                with tarfile.open(p) as tar:
                    tar.extractall(tmp, filter="data")
            except FileNotFoundError:
                raise InputError(f"{p}: no such file") from None
            except (tarfile.TarError, OSError, EOFError) as e:
                raise InputError(f"{p}: cannot be unpacked ({e})") from None
            files.extend((f, False) for f in _listed(tmp))
        elif not p.exists():
            raise InputError(f"{p}: no such file")
        else:
            files.append((p, True))
    return files


class ImportJob:
    """The state of one import: options, the files, what the format learnt from side files, and
    the notes that end up in manifest.json under "interop"."""

    def __init__(self, fmt: Format, files: list[tuple[Path, bool]],
                 options: ImportOptions) -> None:
        self.fmt = fmt
        self.files = [f for f, _ in files]
        self.named = {f for f, named in files if named}
        self.options = options
        self.csvs: list[CsvFile] = []
        self.layout = fmt.layouts[0]
        self.missing: set[str] = set(fmt.missing_fields)
        self.dropped: set[str] = set()
        self.notes: dict = {}
        self.roles: dict[str, str] = {}  # file name -> role
        self.bank_names: dict[str, str] = {}
        self.country_names: dict[str, str] = {}
        self.party_names: pd.DataFrame | None = None  # party_id, kind, name, original
        self.flagged_accounts: pd.DataFrame | None = None  # account_id, typology (account labels)
        #: accounts listed by side files, added when no transaction had them: (ids, attrs)
        self.seeds: list[tuple[np.ndarray, pa.Table]] = []
        self.party_of: pd.Series | None = None  # account_id -> party_id from a side file
        start = options.start or DEFAULT_START
        self.start_s = int(start.timestamp())
        self.scratch = Path(tempfile.gettempdir())  # set per import to a private directory

    def csv(self, path: Path, columns: Sequence[str], **kw) -> CsvFile:
        f = CsvFile(path, columns, skip_bad_lines=self.options.skip_bad_lines,
                    block_size=self.options.block_size, **kw)
        self.csvs.append(f)
        return f

    def role(self, path: Path, role: str) -> None:
        """Record what a file is; a second file of the same role is an error."""
        if role in self.roles.values():
            other = next(k for k, v in self.roles.items() if v == role)
            raise InputError(f"{path}: a second {role} file (the first is {other}); "
                             f"give one of each")
        self.roles[str(path)] = role

    def unknown_file(self, path: Path, expected: str) -> None:
        """A file the format does not know: an error when it was named on the command line,
        else (a directory's or an archive's other files, e.g. plots) ignored and noted."""
        if path not in self.named:
            self.notes.setdefault("ignored_files", []).append(path.name)
            return
        try:
            head = read_head(path)[:60]
        except InputError:
            head = "binary data"
        raise InputError(f"{path}:1: not a file of {self.fmt.title} (it starts {head!r}); "
                         f"expected {expected}")

    def the_file(self, starts: str, expected: str) -> Path:
        """The one input whose header starts with `starts` (case ignored), for formats of a
        single file; other files are handled by unknown_file."""
        found = None
        for path in self.files:
            head = self.head(path)
            if head is not None and head.lower().startswith(starts.lower()):
                self.role(path, "transactions")
                found = path
            else:
                self.unknown_file(path, expected)
        if found is None:
            raise InputError(f"{self.files[0]}: no {expected} among the inputs")
        return found

    def head(self, path: Path) -> str | None:
        """The first line of a text file, None for a binary file from a directory or archive."""
        try:
            return read_head(path)
        except InputError:
            if path in self.named:
                raise
            return None

    def step_times(self, steps: np.ndarray) -> np.ndarray:
        """Seconds since the epoch of step numbers counted from the start."""
        return self.start_s + steps * UNIT_SECONDS[self.fmt.time_unit]

    def total_bytes(self) -> int:
        return sum(f.size() for f in self.csvs)

    def bytes_read(self) -> int:
        return sum(f.bytes_read for f in self.csvs)


def _to_stage(rows: pa.Table, book: AccountBook) -> pa.Table:
    """A reader's block as staged rows; its accounts go into the book."""
    n = rows.num_rows
    names = set(rows.column_names)

    def arr(name):
        return rows.column(name).combine_chunks()

    accounts = {}
    for side in ("src", "dst"):
        if f"{side}_account" in names:
            accounts[side] = arr(f"{side}_account").to_numpy()
        else:
            accounts[side] = stable_ids(arr(f"{side}_bank"), arr(f"{side}_key"))
    currency = arr("currency")
    amount = arr("amount").to_numpy()
    if "amount_base" in names:
        base = arr("amount_base").to_numpy()
    else:
        base = np.round(amount * eur_rate(currency), 2)
    ts = arr("ts").to_numpy()
    attrs = pa.concat_tables([account_attrs(
        n, bank=arr(f"{side}_bank"), country=arr(f"{side}_country"),
        currency=arr(f"{side}_currency") if f"{side}_currency" in names else currency,
        kind=arr(f"{side}_kind") if f"{side}_kind" in names else "current",
        original=arr(f"{side}_key")) for side in ("src", "dst")])
    book.add(np.concatenate([accounts["src"], accounts["dst"]]), np.concatenate([ts, ts]), attrs)
    return pa.Table.from_arrays([
        arr("txn_id"), arr("ts"), pa.array(accounts["src"]), pa.array(accounts["dst"]),
        arr("src_bank"), arr("dst_bank"), arr("src_country"), arr("dst_country"),
        pa.array(amount), currency, pa.array(base), arr("channel"), arr("reference"),
        arr("is_suspicious"), arr("typology"),
    ], schema=STAGE)


def _suspicious(staged: pa.Table, rows: pa.Table) -> pd.DataFrame:
    """The laundering rows of a block, with what case derivation needs (and the format's hint)."""
    mask = staged.column("is_suspicious")
    keep = ["txn_id", "ts", "src_account", "dst_account", "amount", "channel", "reference",
            "typology"]
    df = staged.filter(mask).select(keep).to_pandas()
    for c in ("channel", "reference", "typology"):
        df[c] = df[c].astype(object)
    if "group" in rows.column_names:
        df["group"] = rows.filter(mask).column("group").to_pandas().astype(object).to_numpy()
    else:
        df["group"] = None
    return df


def _most_common(values: pa.Array, default: str) -> str:
    """The most frequent non-empty text (for accounts whose currency no row told)."""
    values = values.filter(pc.not_equal(values, ""))
    if len(values) == 0:
        return default
    counts = values.value_counts()
    return counts.field("values")[int(np.argmax(counts.field("counts").to_numpy()))].as_py()


def _static_tables(job: ImportJob, book: pa.Table, first_ts: int) -> dict[str, pa.Table]:
    """countries, banks, parties and accounts from the accounts seen and the side files."""
    ids = book.column("account_id").to_numpy()
    ts = book.column("first_ts").to_numpy().copy()
    never = ts == AccountBook.NEVER
    if never.any():
        job.notes["accounts_without_transactions"] = int(never.sum())
    ts[never] = first_ts
    party = book.column("party_id").to_numpy().copy()
    party[party < 0] = ids[party < 0]
    if job.party_of is not None and len(job.party_of):
        pos = job.party_of.index.get_indexer(ids)
        party = np.where(pos >= 0, job.party_of.to_numpy(np.int64)[np.maximum(pos, 0)], party)
    currency = book.column("currency").fill_null("")
    currency = pc.if_else(pc.equal(currency, ""), _most_common(currency, "USD"), currency)
    accounts = pa.table({
        "account_id": ids, "party_id": party, "bank_id": book.column("bank_id"),
        "country": book.column("country"), "currency": currency, "kind": book.column("kind"),
        "opened_at": pa.array(ts).cast(pa.timestamp("s", tz="UTC")),
    })

    pairs = accounts.group_by(["bank_id", "country"]).aggregate([]).sort_by("bank_id")
    bank_ids = pairs.column("bank_id").to_pylist()  # one per bank: a short list
    banks = pa.table({
        "bank_id": pairs.column("bank_id"),
        "name": [job.bank_names.get(b, b) for b in bank_ids],
        "country": pairs.column("country"), "kind": ["bank"] * len(bank_ids),
    })

    counts = accounts.group_by(["country", "currency"]).aggregate([("account_id", "count")])
    top = counts.to_pandas().sort_values(["country", "account_id_count", "currency"],
                                         ascending=[True, False, True]).drop_duplicates("country")
    countries = pa.table({
        "country": top["country"].astype(str).to_numpy(),
        "name": [job.country_names.get(c, c) for c in top["country"]],
        "currency": top["currency"].astype(str).to_numpy(),
        "utc_offset": np.zeros(len(top), np.float32), "risk": ["unknown"] * len(top),
    })

    # one party per owner: its first account gives country, kind and (by default) name
    owners, first = np.unique(party, return_index=True)
    take = pa.array(first)
    kinds = accounts.column("kind").take(take)
    business = pc.is_in(kinds, pa.array(["merchant", "business"]))
    names = book.column("original").take(take)
    party_kind = pc.if_else(business, "business", "person")
    if job.party_names is not None:
        known = pd.Index(job.party_names["party_id"].to_numpy(np.int64))
        pos = known.get_indexer(owners)
        hit = pos >= 0
        if hit.any():
            named = job.party_names.iloc[pos[hit]]
            n_obj = names.to_numpy(zero_copy_only=False).astype(object)
            k_obj = party_kind.to_numpy(zero_copy_only=False).astype(object)
            n_obj[hit], k_obj[hit] = named["name"].to_numpy(), named["kind"].to_numpy()
            names, party_kind = pa.array(n_obj, pa.string()), pa.array(k_obj, pa.string())
    parties = pa.table({
        "party_id": owners, "kind": party_kind, "name": names,
        "country": accounts.column("country").take(take),
        "household_id": owners,  # each party a household of its own
        "sector": pc.if_else(pc.equal(kinds, "merchant"), "merchant", "unknown"),
    })
    return {"countries": countries, "banks": banks, "parties": parties, "accounts": accounts}


def _finish_cases(job: ImportJob, susp: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give every laundering row a case: case ids 1.. in order of each case's first row."""
    if susp.empty:
        return susp.assign(case_id=np.zeros(0, np.int64)), CASE_LABELS.empty_table().to_pandas()
    keys, params = job.fmt.cases(susp, job)
    susp = susp.assign(key=keys.to_numpy())
    susp = susp.sort_values(["ts", "txn_id"], kind="stable")
    first = susp.drop_duplicates("key")[["key"]].reset_index(drop=True)
    first["case_id"] = np.arange(1, len(first) + 1, dtype=np.int64)
    susp = susp.merge(first, on="key", how="left")
    # every row of a case carries the case's typology: its most common one, "unknown" last
    susp["typology"] = susp["typology"].fillna("unknown")
    counts = susp.groupby(["case_id", "typology"]).size().rename("n").reset_index()
    counts["unknown"] = counts["typology"] == "unknown"
    counts = counts.sort_values(["case_id", "unknown", "n", "typology"],
                                ascending=[True, True, False, True])
    typ = counts.drop_duplicates("case_id").set_index("case_id")["typology"]
    susp["typology"] = typ.reindex(susp["case_id"]).to_numpy()
    g = susp.groupby("case_id", sort=True)
    n_acc = pd.concat([
        susp[["case_id", "src_account"]].rename(columns={"src_account": "a"}),
        susp[["case_id", "dst_account"]].rename(columns={"dst_account": "a"}),
    ]).groupby("case_id")["a"].nunique()
    keys_of = first.set_index("case_id")["key"]
    default = {"source": job.fmt.name}
    cases = pd.DataFrame({
        "case_id": g.size().index.to_numpy(np.int64),
        "typology": g["typology"].first().astype(str).to_numpy(),
        "parameters": [json.dumps(params.get(k, default), sort_keys=True)
                       for k in keys_of.reindex(g.size().index)],
        "first_ts": pd.to_datetime(g["ts"].min().to_numpy(), unit="s", utc=True),
        "last_ts": pd.to_datetime(g["ts"].max().to_numpy(), unit="s", utc=True),
        "n_accounts": n_acc.reindex(g.size().index).to_numpy(np.int64),
        "n_transactions": g.size().to_numpy(np.int64),
    })
    return susp, cases


def _account_labels(job: ImportJob, susp: pd.DataFrame) -> pd.DataFrame:
    """labels/accounts: the role of each account in each case, and flagged accounts with none."""
    labels = roles(susp)
    flagged = job.flagged_accounts
    if flagged is not None and len(flagged):
        extra = flagged.loc[~flagged["account_id"].isin(labels["account_id"])]
        labels = pd.concat([labels, pd.DataFrame({
            "account_id": extra["account_id"].to_numpy(np.int64), "role": "suspect",
            "typology": extra["typology"].to_numpy(), "case_id": None})], ignore_index=True)
    labels["case_id"] = pd.array(labels["case_id"], dtype="Int64")
    return labels


def _label_block(part: pa.Table, susp: pd.DataFrame, index: pd.Index) -> pa.Table:
    """labels/transactions of one ordered block: case and typology for the laundering rows."""
    flagged = part.column("is_suspicious").to_numpy(zero_copy_only=False)
    n = part.num_rows
    case = np.zeros(n, np.int64)
    typology = part.column("typology").to_pandas()
    if flagged.any():
        where = np.flatnonzero(flagged)
        pos = index.get_indexer(part.column("txn_id").to_numpy()[where])
        case[where] = susp["case_id"].to_numpy()[pos]
        new = susp["typology"].to_numpy()[pos]
        typology = typology.cat.add_categories(
            [t for t in pd.unique(new) if t not in typology.cat.categories])
        typology.iloc[where] = new
    return pa.Table.from_arrays([
        part.column("txn_id"), part.column("is_suspicious"),
        pa.array(typology, type=DICT), pa.array(case, mask=~flagged),
    ], schema=storage_schema(TRANSACTION_LABELS))


def _transaction_block(part: pa.Table) -> pa.Table:
    """Staged rows as transactions in the storage schema (times from seconds)."""
    cols = [part.column(n) for n in TRANSACTIONS.names]
    cols[1] = pc.cast(cols[1], TRANSACTIONS.field("ts").type)
    return pa.Table.from_arrays(cols, schema=storage_schema(TRANSACTIONS))


def _read_source(job: ImportJob) -> tuple[Stage, AccountBook, pd.DataFrame]:
    """Pass one: every block converted and parked, accounts remembered, laundering rows kept."""
    stage, book, suspicious = Stage(job.scratch), AccountBook(), []
    total = max(job.total_bytes(), 1)
    for rows in job.fmt.blocks(job):
        staged = _to_stage(rows, book)
        stage.append(staged)
        if pc.any(staged.column("is_suspicious")).as_py():
            suspicious.append(_suspicious(staged, rows))
        job.options.progress("reading", min(job.bytes_read(), total), total)
    for ids, attrs in job.seeds:  # accounts of side files that made no transaction
        book.add(ids, np.full(len(ids), AccountBook.NEVER), attrs)
    job.options.progress("reading", total, total)
    if stage.rows == 0:
        raise InputError(f"{job.files[0]}: no transactions to import")
    empty = pd.DataFrame(columns=["txn_id", "ts", "src_account", "dst_account", "amount",
                                  "channel", "reference", "typology", "group"])
    return stage, book, pd.concat(suspicious, ignore_index=True) if suspicious else empty


def _manifest(job: ImportJob, stage: Stage, susp: pd.DataFrame, accounts: pa.Table) -> dict:
    """manifest.json's "interop" entry: the source, counts, and what was synthesised or dropped."""
    no_rate = unknown_rates(pc.unique(accounts.column("currency")).to_pylist())
    if no_rate:
        job.notes["currencies_without_rate"] = no_rate
    start = dt.datetime.fromtimestamp(job.start_s, dt.UTC).isoformat()
    return {"interop": {
        "format": job.fmt.name,
        "layout": job.layout,
        "sources": [{"file": Path(p).name, "role": r} for p, r in job.roles.items()],
        "rows": stage.rows,
        "laundering_rows": len(susp),
        "skipped_lines": sum(f.skipped for f in job.csvs),
        "missing_fields": sorted(job.missing),
        "dropped_fields": sorted(job.dropped),
        **({"start": start} if job.fmt.steps else {}),
        **job.notes,
    }}


def _write_ordered(w: DatasetWriter, job: ImportJob, stage: Stage, susp: pd.DataFrame) -> None:
    """Pass two: transactions and their labels in time order; writing overlaps the next block."""
    index = pd.Index(susp["txn_id"].to_numpy(np.int64))
    if not index.is_unique:
        raise InputError(f"{job.files[0]}: transaction ids repeat; each must be unique")

    def write(txns: pa.Table, labels: pa.Table) -> None:
        w.append("transactions", txns)
        w.append("labels/transactions", labels)

    done, pending = 0, None
    with ThreadPoolExecutor(max_workers=1) as pool:
        for part in prefetched(stage.ordered(job.options.max_sort_rows)):
            blocks = (_transaction_block(part), _label_block(part, susp, index))
            if pending is not None:
                pending.result()
            pending = pool.submit(write, *blocks)
            done += part.num_rows
            job.options.progress("writing", done, stage.rows)
        if pending is not None:
            pending.result()


def import_dataset(name: str, paths: Sequence[Path | str], out: Path | str, *,
                   force: bool = False, options: ImportOptions | None = None) -> dict:
    """Read a foreign dataset (one or more files, directories or archives) into a finlab dataset
    directory; returns a summary (rows, laundering rows, skipped lines, seconds, ...)."""
    options = options or ImportOptions()
    fmt = get_format(name)
    if options.start is not None and not fmt.steps:
        raise InputError(f"--start applies to formats counted in steps; {name} has times")
    began = time.perf_counter()
    out = check_output(out, force=force, inputs=paths)
    with WorkDir(out) as work:
        job = ImportJob(fmt, input_files(paths, work.path), options)
        if not job.files:
            raise InputError(f"no files to import in {', '.join(map(str, paths))}")
        job.scratch = work.path / "scratch"
        job.scratch.mkdir()
        fmt.open(job)
        stage, book, susp = _read_source(job)
        susp, cases = _finish_cases(job, susp)
        tables = _static_tables(job, book.compact(), min(r[0] for r in stage.ranges))
        manifest = _manifest(job, stage, susp, tables["accounts"])
        with DatasetWriter(out, force=force, manifest=manifest, work=work) as w:
            for tname, schema in (("countries", COUNTRIES), ("banks", BANKS),
                                  ("parties", PARTIES), ("accounts", ACCOUNTS)):
                w.write(tname, to_arrow(tables[tname], storage_schema(schema)))
            _write_ordered(w, job, stage, susp)
            w.write("labels/accounts", to_arrow(_account_labels(job, susp),
                                                storage_schema(ACCOUNT_LABELS)))
            w.write("labels/cases", to_arrow(cases, storage_schema(CASE_LABELS)))
            (w.tmp / "interop").mkdir()  # the source's own ids, for exports back to it
            w.write("interop/accounts", book.compact().select(
                ["account_id", "bank_id", "original"]))
            if job.party_names is not None:
                w.write("interop/parties", pa.Table.from_pandas(
                    job.party_names[["party_id", "original"]], preserve_index=False))
    return {"out": str(out), "format": fmt.name, "rows": stage.rows,
            "laundering_rows": len(susp), "cases": len(cases),
            "skipped_lines": manifest["interop"]["skipped_lines"],
            "skipped_examples": [e for f in job.csvs for e in f.examples][:3],
            "seconds": time.perf_counter() - began}
