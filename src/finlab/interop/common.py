"""What the interop readers and writers share: the format contract and registry, chunked CSV reading
with line-exact errors, stable account ids, case derivation, and the import and export drivers.

An import streams the source block by block (bounded memory): each block is checked and converted,
its accounts are remembered, and its rows are parked in scratch Arrow files; once every row has
been seen, cases are derived from the (few) laundering rows and the rows are written in time order
through `finlab.io.DatasetWriter`. An export streams a dataset's transactions the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import itertools
import json
import queue
import re
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from finlab import integrity
from finlab.errors import InputError
from finlab.io import MANIFEST, DatasetWriter, to_arrow
from finlab.outputs import MARKER, check_output, mark, publish
from finlab.registry import Registry
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

Progress = Callable[[str, int, int], None]
DICT = pa.dictionary(pa.int32(), pa.string())
MASK63 = np.uint64((1 << 63) - 1)
DEFAULT_START = dt.datetime(2017, 1, 1, tzinfo=dt.UTC)  # AMLSim's default base date
UNIT_SECONDS = {"s": 1, "min": 60, "h": 3600, "D": 86400}
ZZ = "ZZ"  # the country of a format that has none

#: approximate value of one unit of each currency in EUR (the base of amount_base) around 2023;
#: used only where a source has no exchange rates of its own
EUR_RATES = {
    "EUR": 1.0, "USD": 0.92, "GBP": 1.15, "JPY": 0.0065, "CNY": 0.13, "INR": 0.011, "RUB": 0.010,
    "CAD": 0.68, "AUD": 0.61, "CHF": 1.03, "MXN": 0.052, "BRL": 0.19, "SAR": 0.245, "ILS": 0.25,
    "AED": 0.25, "TRY": 0.034, "MAD": 0.091, "NGN": 0.0012, "ALL": 0.0097, "PKR": 0.0033,
    "NOK": 0.085, "SEK": 0.087, "DKK": 0.134, "PLN": 0.22, "PHP": 0.016, "THB": 0.026,
    "COP": 0.00022, "ZAR": 0.049, "HKD": 0.118, "SGD": 0.69, "KRW": 0.0007, "BTC": 25000.0,
}


def _quiet(stage: str, done: int, total: int) -> None:
    return None


def prefetched(items: Iterator, depth: int = 2) -> Iterator:
    """The items of an iterator produced one or two ahead in a thread (pyarrow releases the GIL
    while it parses, so reading overlaps with converting); errors surface in the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            q.put((done, e))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()


def normalise_typology(values: pd.Series) -> pd.Series:
    """Foreign typology names as finlab names: lower case, runs of other characters as "_"
    ("FAN-OUT" -> fan_out, "Stacked Bipartite" -> stacked_bipartite); finlab names are unchanged."""
    return (values.astype("string").str.strip().str.lower()
            .str.replace(r"[^a-z0-9:]+", "_", regex=True).str.strip("_"))


def codes_for(names: pa.Array, table: dict[str, str]) -> tuple[pa.Array, np.ndarray]:
    """Map a text column through `table` (name -> code), also accepting the codes themselves;
    returns the codes (dictionary-encoded) and a mask of the rows whose value is neither."""
    if not pa.types.is_dictionary(names.type):
        names = names.dictionary_encode()
    codes = set(table.values())
    words = names.dictionary.to_pylist()
    mapped = [table.get(w, w if w in codes or re.fullmatch(r"[A-Z]{3}", w) else None)
              for w in words]
    bad_word = np.array([m is None for m in mapped], dtype=bool)
    indices = names.indices.to_numpy(zero_copy_only=False)
    out = reindexed(names.indices, [m or "" for m in mapped])
    return out, bad_word[indices] if len(words) else np.zeros(len(names), bool)


def eur_rate(currency: np.ndarray | pa.Array, rates: dict[str, float] | None = None) -> np.ndarray:
    """The EUR value of one unit of each currency (1.0 where unknown), vectorised."""
    rates = rates or EUR_RATES
    arr = currency if isinstance(currency, pa.Array) else pa.array(currency, pa.string())
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    per_word = np.array([rates.get(w, 1.0) for w in arr.dictionary.to_pylist()] or [1.0])
    return per_word[arr.indices.to_numpy(zero_copy_only=False)]


def unknown_rates(currencies: Sequence[str], rates: dict[str, float] | None = None) -> list[str]:
    """Currencies without a rate (their amount_base is the amount as it is)."""
    rates = rates or EUR_RATES
    return sorted(c for c in set(currencies) if c not in rates)


# --------------------------------------------------------------------------------------------------
# Reading CSV files block by block


class _CountingFile(io.RawIOBase):
    """A binary file that counts the bytes read from it, for the progress bar."""

    def __init__(self, f) -> None:
        self.f = f
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self.f.readinto(b)
        self.count += n or 0
        return n

    def close(self) -> None:
        self.f.close()
        super().close()


def _open_binary(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})") from None


def read_head(path: Path, limit: int = 1 << 20) -> str:
    """The first line of a (possibly gzipped) text file, without its line ending."""
    with _open_binary(path) as raw:
        f = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
        try:
            line = f.readline(limit)
        except (OSError, EOFError) as e:
            raise InputError(f"{path}: cannot be read ({e})") from None
    try:
        return line.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InputError(f"{path}:1: not a UTF-8 text file") from None


def _fields(line: str) -> list[str]:
    return next(csv.reader([line])) if line else []


def _norm(name: str) -> str:
    return name.strip().lower()


class CsvFile:
    """One CSV file read in blocks with pyarrow: the header is checked against the expected columns
    first, then every block comes as a `Batch` that knows the file line of each of its rows."""

    def __init__(
        self,
        path: Path,
        columns: Sequence[str],
        *,
        what: str,
        optional: Sequence[str] = (),
        aliases: dict[str, str] | None = None,
        positional: bool = False,
        dictionary: Sequence[str] = (),
        skip_bad_lines: bool = False,
        block_size: int = 8 << 20,
        shown_as: Path | None = None,
        line_map: np.ndarray | None = None,
    ) -> None:
        self.source = Path(path)
        self.path = Path(shown_as or path)  # the name in messages
        self.line_map = line_map  # file line -> line of the file shown in messages
        self.what = what
        self.columns = list(columns)
        self.skip_bad_lines = skip_bad_lines
        self.block_size = block_size
        self.skipped = 0
        self.examples: list[str] = []
        self._lock = threading.Lock()  # the reading thread and the converting one both note
        self._counter: _CountingFile | None = None
        self._structural: list[int] = []  # physical lines of rows with a wrong number of fields
        self._pending: tuple[int, str] | None = None
        header = _fields(read_head(self.source))
        if not header:
            raise InputError(
                f"{self.path}:1: empty file; expected a header with {', '.join(self.columns)}")
        self.width = len(header)
        self.index = (self._by_position(header) if positional
                      else self._by_name(header, optional, aliases or {}))
        self._dictionary = {c for c in dictionary if c in self.index}

    # header ---------------------------------------------------------------------------------------
    def _expected(self) -> str:
        return f"{self.what} has the columns {', '.join(self.columns)}"

    def _by_position(self, header: list[str]) -> dict[str, int]:
        """Columns by position (AMLworld repeats a name): the header must match exactly."""
        found, want = [_norm(h) for h in header], [_norm(c) for c in self.columns]
        if found != want:
            spelt = {_norm(h): h.strip() for h in header}
            spelt.update({_norm(c): c for c in self.columns})
            missing = [spelt[m] for m in (Counter(want) - Counter(found)).elements()]
            extra = [spelt[x] for x in (Counter(found) - Counter(want)).elements()]
            problem = (f"missing column {', '.join(missing)!s}" if missing else
                       f"unexpected column {', '.join(extra)}" if extra else "columns out of order")
            if missing and extra:
                problem += f" and unexpected column {', '.join(extra)}"
            raise InputError(f"{self.path}:1: {problem}; {self._expected()}")
        # repeated names (AMLworld's two "Account" columns) get their own keys by position
        return {f"{c}#{i}" if self.columns.count(c) > 1 else c: i
                for i, c in enumerate(self.columns)}

    def _by_name(self, header: list[str], optional: Sequence[str],
                 aliases: dict[str, str]) -> dict[str, int]:
        """Columns by name, in any order, case ignored, with aliases and optional columns."""
        canon = {_norm(c): c for c in self.columns}
        canon.update({_norm(a): c for a, c in aliases.items()})
        index: dict[str, int] = {}
        for i, h in enumerate(header):
            name = canon.get(_norm(h))
            if name is None:
                raise InputError(f"{self.path}:1: unexpected column {h!r}; {self._expected()}")
            if name in index:
                raise InputError(f"{self.path}:1: column {h!r} appears twice; {self._expected()}")
            index[name] = i
        missing = [c for c in self.columns if c not in index and c not in optional]
        if missing:
            raise InputError(f"{self.path}:1: missing column {', '.join(missing)}; "
                             f"{self._expected()}")
        return index

    # blocks ---------------------------------------------------------------------------------------
    @property
    def bytes_read(self) -> int:
        return self._counter.count if self._counter else 0

    def size(self) -> int:
        try:
            return self.source.stat().st_size
        except OSError:
            return 0

    def _invalid(self, row) -> str:
        line = row.number if row.number is not None else 0
        self._structural.append(line)
        self._note(int(self._shown(np.array([line]))[0]),
                   f"{row.actual_columns} fields where {row.expected_columns} are expected")
        return "skip"

    def _shown(self, lines: np.ndarray) -> np.ndarray:
        return lines if self.line_map is None else self.line_map[np.minimum(
            lines - 1, len(self.line_map) - 1)]

    def _note(self, line: int, message: str, count: int = 1) -> None:
        """Remember the first problem (raised by the next check) or count skipped lines."""
        with self._lock:
            if self.skip_bad_lines:
                self.skipped += count
                if len(self.examples) < 3:
                    self.examples.append(f"{self.path}:{line}: {message}")
            elif self._pending is None or line < self._pending[0]:
                self._pending = (line, message)

    def raise_pending(self, upto: int | None = None) -> None:
        """Raise the first problem noted (up to a line, when given) as "<file>:<line>: ..."."""
        if self._pending is not None and (upto is None or self._pending[0] <= upto):
            line, message = self._pending
            raise InputError(f"{self.path}:{line}: {message}; "
                             "pass --skip-bad-lines to skip such lines")

    def _lines(self, first: int, n: int) -> np.ndarray:
        """File line of each of the n rows after the `first` rows already returned."""
        g = np.arange(first, first + n, dtype=np.int64)
        skipped = np.asarray(self._structural, dtype=np.int64)
        if skipped.size:
            before = skipped - 2 - np.arange(skipped.size)  # valid rows before each skipped line
            return self._shown(g + 2 + np.searchsorted(before, g, side="right"))
        return self._shown(g + 2)

    def _stream(self):
        raw = _open_binary(self.source)
        self._counter = _CountingFile(raw)
        stream = pa.PythonFile(self._counter, mode="r")
        if self.source.suffix == ".gz":
            stream = pa.CompressedInputStream(stream, "gzip")
        return stream

    def batches(self) -> Iterator[Batch]:
        """The file's blocks in order (read one ahead in a thread)."""
        return prefetched(self._batches())

    def _batches(self) -> Iterator[Batch]:
        names = [f"c{i}" for i in range(self.width)]
        wanted = {f"c{i}": (DICT if c in self._dictionary else pa.string())
                  for c, i in self.index.items()}
        read = pacsv.ReadOptions(skip_rows=1, column_names=names, block_size=self.block_size,
                                 use_threads=False)
        parse = pacsv.ParseOptions(invalid_row_handler=self._invalid, ignore_empty_lines=False)
        convert = pacsv.ConvertOptions(
            column_types=wanted, include_columns=list(wanted), strings_can_be_null=False,
            quoted_strings_can_be_null=False)
        stream = self._stream()
        done = 0
        binary: list[BaseException] = []
        previous = sys.unraisablehook

        def hook(unraisable) -> None:
            # pyarrow cannot hand a row that is not UTF-8 to _invalid and reports that on
            # stderr as "Exception ignored"; note it instead, the parse error follows
            if isinstance(unraisable.exc_value, UnicodeDecodeError):
                binary.append(unraisable.exc_value)
            else:
                previous(unraisable)

        sys.unraisablehook = hook
        try:
            reader = pacsv.open_csv(stream, read_options=read, parse_options=parse,
                                    convert_options=convert)
            for rb in reader:
                n = rb.num_rows
                lines = self._lines(done, n)
                done += n
                table = pa.Table.from_batches([rb]).rename_columns(
                    [next(c for c, i in self.index.items() if f"c{i}" == name)
                     for name in rb.schema.names])
                batch = Batch(self, table, lines)
                batch.drop_blank()
                yield batch
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError, EOFError) as e:
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            row = re.search(r"Row #(\d+)", message)  # pyarrow counts file lines from 1
            line = int(self._shown(np.array([int(row.group(1))]))[0]) if row else \
                int(self._lines(done, 1)[0])
            if binary:
                raise InputError(f"{self.path}:{line}: not UTF-8 text (binary data?)") from None
            raise InputError(f"{self.path}:{line}: cannot be read as CSV ({message})") from None
        finally:
            sys.unraisablehook = previous
            stream.close()
        self.raise_pending()


class Batch:
    """One block of a CSV file as text columns; conversions flag bad rows, and `keep()` raises the
    first problem (as "<file>:<line>: ...") or, with --skip-bad-lines, counts and drops them."""

    def __init__(self, file: CsvFile, table: pa.Table, lines: np.ndarray) -> None:
        self.file = file
        self.table = table
        self.lines = lines
        self.bad = np.zeros(table.num_rows, dtype=bool)
        self._first: tuple[int, str] | None = None

    def __len__(self) -> int:
        return self.table.num_rows

    def has(self, name: str) -> bool:
        return name in self.table.column_names

    def col(self, name: str) -> pa.Array:
        return self.table.column(name).combine_chunks()

    def drop_blank(self) -> None:
        """Blank lines read as rows of empty fields: drop them silently."""
        blank = None
        for name in self.table.column_names:
            empty = pc.equal(self.col(name).cast(pa.string()), "")
            blank = empty if blank is None else pc.and_(blank, empty)
            if not pc.any(blank).as_py():
                return
        if blank is not None:
            keep = pc.invert(blank)
            self.table = self.table.filter(keep)
            self.lines = self.lines[keep.to_numpy(zero_copy_only=False)]
            self.bad = np.zeros(self.table.num_rows, dtype=bool)

    def flag(self, mask: np.ndarray, name: str, what: str) -> None:
        """Mark rows as bad: `what` completes "<column> <value> ..." in the message."""
        if not mask.any():
            return
        i = int(np.argmax(mask))
        value = self.col(name)[i].as_py()
        line = int(self.lines[i])
        if self._first is None or line < self._first[0]:
            self._first = (line, f"{name.split('#')[0]} {value!r} {what}")
        self.bad |= mask

    def _per_word(self, name: str, fn) -> tuple[np.ndarray, np.ndarray]:
        """Apply fn (array of distinct texts -> (values, valid)) once per distinct value."""
        arr = self.col(name)
        if not pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_encode()
        values, valid = fn(arr.dictionary)
        idx = arr.indices.to_numpy(zero_copy_only=False)
        if len(arr.dictionary) == 0:
            return np.zeros(0, dtype=values.dtype), np.zeros(0, bool)
        return values[idx], valid[idx]

    def text(self, name: str, *, required: bool = True) -> pa.Array:
        """A text column as it is; with required=True empty values are bad rows."""
        arr = self.col(name)
        if required:
            self.flag(pc.equal(arr.cast(pa.string()), "").to_numpy(zero_copy_only=False), name,
                      "is empty; a value is required")
        return arr

    def number(self, name: str, *, positive: bool = False) -> np.ndarray:
        """A float column; with positive=True values <= 0 are bad rows too."""
        arr = self.col(name)
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(pa.string())
        try:
            values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            bad = ~np.isfinite(values)
        except pa.ArrowInvalid:
            ok = pc.match_substring_regex(
                arr, r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$").to_numpy(zero_copy_only=False)
            values = pc.cast(pc.if_else(pa.array(ok), arr, "0"), pa.float64()).to_numpy(
                zero_copy_only=False)
            bad = ~ok | ~np.isfinite(values)
        self.flag(bad, name, "is not a number")
        if positive:
            self.flag(~bad & (values <= 0), name,
                      "is not a positive amount; finlab amounts are > 0")
        return values

    def integer(self, name: str) -> np.ndarray:
        """A whole-number column (ids, steps)."""
        arr = self.col(name)
        if pa.types.is_dictionary(arr.type):
            def conv(words):
                ok = pc.match_substring_regex(words, r"^-?\d{1,18}$").to_numpy(
                    zero_copy_only=False)
                vals = pc.cast(pc.if_else(pa.array(ok), words, "0"), pa.int64())
                return vals.to_numpy(zero_copy_only=False), ok
            values, ok = self._per_word(name, conv)
        else:
            try:
                values = pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False)
                ok = np.ones(len(values), bool)
            except pa.ArrowInvalid:
                ok = pc.match_substring_regex(arr, r"^-?\d{1,18}$").to_numpy(zero_copy_only=False)
                values = pc.cast(pc.if_else(pa.array(ok), arr, "0"), pa.int64()).to_numpy(
                    zero_copy_only=False)
        self.flag(~ok, name, "is not a whole number")
        return values

    def flag01(self, name: str) -> np.ndarray:
        """A yes/no column written as 0/1 or false/true (any case)."""
        def conv(words):
            low = [w.strip().lower() for w in words.to_pylist()]
            return (np.array([w in ("1", "true") for w in low], bool),
                    np.array([w in ("0", "1", "true", "false") for w in low], bool))
        values, ok = self._per_word(name, conv)
        self.flag(~ok, name, "is not 0/1 or true/false")
        return values

    def time(self, name: str, fmt: str, example: str) -> np.ndarray:
        """Seconds since the epoch (UTC) of a timestamp column written as `fmt`."""
        def conv(words):
            t = pc.strptime(words, format=fmt, unit="s", error_is_null=True)
            ok = t.is_valid().to_numpy(zero_copy_only=False)
            return t.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), ok
        values, ok = self._per_word(name, conv)
        self.flag(~ok, name, f"is not a time like {example}")
        return values

    def choice(self, name: str, mapping: dict[str, str]) -> pa.DictionaryArray:
        """A column of known words, mapped (e.g. a payment format to a finlab channel)."""
        arr = self.col(name)
        if not pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_encode()
        words = arr.dictionary.to_pylist()
        mapped = [mapping.get(w) for w in words]
        bad_word = np.array([m is None for m in mapped] or [False])
        self.flag(bad_word[arr.indices.to_numpy(zero_copy_only=False)] if words
                  else np.zeros(len(arr), bool),
                  name, f"is not one of {', '.join(sorted(mapping))}")
        return reindexed(arr.indices, [m or "" for m in mapped])

    def currency(self, name: str, names: dict[str, str]) -> pa.DictionaryArray:
        """Currency names (or ISO codes) as ISO codes."""
        out, bad = codes_for(self.col(name), names)
        self.flag(bad, name, "is not a known currency name or a 3-letter code")
        return out

    def keep(self) -> np.ndarray:
        """The good rows; raises on the first bad line unless bad lines are skipped."""
        last = int(self.lines[-1]) if len(self.lines) else 0
        if self._first is not None:
            self.file._note(*self._first, count=int(self.bad.sum()))
        self.file.raise_pending(upto=last)
        return ~self.bad


# --------------------------------------------------------------------------------------------------
# Ids, accounts and cases


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


def as_array(value, n: int, typ: pa.DataType) -> pa.Array:
    """A column of n values of type typ from a scalar, a numpy array or an Arrow array."""
    if value is None:
        return pa.nulls(n, typ)
    if isinstance(value, (str, int, float, bool)):
        if typ == DICT:
            return constant(str(value), n)
        return pa.array(np.full(n, value), typ) if typ != pa.string() else \
            constant(str(value), n).cast(pa.string())
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if not isinstance(value, pa.Array):
        arr = np.asarray(value)
        value = pa.array(arr, pa.string() if arr.dtype.kind in "OUS" else None)
    if typ == DICT:
        if pa.types.is_dictionary(value.type):
            return value.cast(DICT) if value.type != DICT else value
        return value.dictionary_encode().cast(DICT)
    if pa.types.is_dictionary(value.type):
        value = value.cast(value.type.value_type)
    return value if value.type == typ else value.cast(typ)


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


# --------------------------------------------------------------------------------------------------
# The format contract


@dataclass
class ImportOptions:
    """How to import: bad-line policy, time of step 0 for formats counted in steps, block size."""

    skip_bad_lines: bool = False
    start: dt.datetime | None = None
    block_size: int = 8 << 20
    max_sort_rows: int = 4_000_000
    progress: Progress = _quiet


class Format:
    """A foreign dataset format: a reader (`open` + `blocks` + `cases`) and a writer (`export`).

    Class attributes describe what survives finlab -> export -> import, so one conformance test
    can run over every registered format.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    #: resolution of the format's times: "s", "min", or steps of "h" / "D" counted from a start
    time_unit: ClassVar[str] = "s"
    steps: ClassVar[bool] = False
    layouts: ClassVar[tuple[str, ...]] = ("standard",)
    #: transaction fields carried by the format besides accounts, amount and time
    carries: ClassVar[frozenset[str]] = frozenset()
    #: finlab channel -> the channel it comes back as after an export and an import
    channel_back: ClassVar[dict[str, str]] = {}
    #: labels: "transaction" (per row) or "account" (per account: rows between two flagged accounts)
    labels_by: ClassVar[str] = "transaction"
    #: fields of finlab's schema that the format lacks (synthesised on import)
    missing_fields: ClassVar[tuple[str, ...]] = ()

    def roundtrip(self, layout: str) -> dict:
        """What finlab -> export(layout) -> import keeps: carries, channel_back, labels_by."""
        return {"carries": self.carries, "channel_back": self.channel_back,
                "labels_by": self.labels_by}

    def open(self, job: ImportJob) -> None:
        """Classify the job's files and read the small side files (accounts, patterns)."""
        raise NotImplementedError

    def blocks(self, job: ImportJob) -> Iterator[pa.Table]:
        """The transactions as blocks of `Rows` (see ROWS) in file order."""
        raise NotImplementedError

    def cases(self, susp: pd.DataFrame, job: ImportJob) -> tuple[pd.Series, dict[str, dict]]:
        """A case key per laundering row and parameters per key (default: components)."""
        return component_keys(susp), {}

    def export(self, ds: DatasetReader, out: Path, layout: str, progress: Progress) -> list[str]:
        """Write the dataset into directory `out` in this format; returns the file names."""
        raise NotImplementedError


#: columns of the blocks a reader yields (optional ones may be left out)
ROWS = {
    "txn_id": pa.int64(), "ts": pa.int64(), "src_key": pa.string(), "dst_key": pa.string(),
    "src_bank": DICT, "dst_bank": DICT, "src_country": DICT, "dst_country": DICT,
    "amount": pa.float64(), "currency": DICT, "channel": DICT, "reference": DICT,
    "is_suspicious": pa.bool_(), "typology": DICT,
}
ROWS_OPTIONAL = {
    "amount_base": pa.float64(), "src_currency": DICT, "dst_currency": DICT, "src_kind": DICT,
    "dst_kind": DICT, "src_account": pa.int64(), "dst_account": pa.int64(), "group": pa.string(),
}
STAGE = pa.schema([
    ("txn_id", pa.int64()), ("ts", pa.int64()), ("src_account", pa.int64()),
    ("dst_account", pa.int64()), ("src_bank", DICT), ("dst_bank", DICT), ("src_country", DICT),
    ("dst_country", DICT), ("amount", pa.float64()), ("currency", DICT),
    ("amount_base", pa.float64()), ("channel", DICT), ("reference", DICT),
    ("is_suspicious", pa.bool_()), ("typology", DICT),
])


def _formats() -> Registry:
    # importing the modules registers them
    from finlab.interop import amlsim, amlworld, paysim, samld  # noqa: F401

    return FORMATS


FORMATS: Registry[type[Format]] = Registry("format")


def get_format(name: str) -> Format:
    """A new reader/writer of a registered format (unknown names list the known ones)."""
    return _formats().get(name)()


def format_names() -> list[str]:
    """The registered formats."""
    return _formats().names()


def remap(words: pa.Array, mapping: dict[str, str]) -> pa.DictionaryArray:
    """A dictionary column with its words replaced through mapping (unknown words kept)."""
    if isinstance(words, pa.ChunkedArray):
        words = words.combine_chunks()
    if not pa.types.is_dictionary(words.type):
        words = words.dictionary_encode()
    return reindexed(words.indices, [mapping.get(w, w) for w in words.dictionary.to_pylist()])


def reindexed(indices: pa.Array, words: list[str]) -> pa.DictionaryArray:
    """indices into `words` as a dictionary array whose dictionary has no repeated word."""
    codes, uniques = pd.factorize(pd.Series(words, dtype=object))
    new = pc.take(pa.array(codes.astype(np.int32)), indices) if len(words) else \
        pa.nulls(len(indices), pa.int32())
    return pa.DictionaryArray.from_arrays(new, pa.array(list(uniques), pa.string()))


def constant(value: str, n: int) -> pa.DictionaryArray:
    """A dictionary column with one value repeated n times."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                          pa.array([value], pa.string()))


# --------------------------------------------------------------------------------------------------
# Import


def _listed(directory: Path) -> list[Path]:
    """A directory's files, without finlab's own markers and temporary folders."""
    return [f for f in sorted(directory.rglob("*")) if f.is_file() and f.name != MARKER
            and not any(part.startswith(SCRATCH_PREFIX) for part in f.relative_to(directory).parts)]


def expand(paths: Sequence[Path | str], scratch: Path) -> list[tuple[Path, bool]]:
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


class _Stage:
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


def make_rows(n: int, **columns) -> pa.Table:
    """A block of rows for the import driver (see ROWS): scalars are repeated, texts become
    dictionary columns, optional columns may be left out."""
    names = list(ROWS) + [c for c in ROWS_OPTIONAL if c in columns]
    unknown = set(columns) - set(names)
    if unknown:
        raise TypeError(f"unknown row columns {sorted(unknown)}")
    arrays = [as_array(columns.get(c), n, ROWS.get(c) or ROWS_OPTIONAL[c]) for c in names]
    return pa.Table.from_arrays(arrays, names=names)


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


def _read_source(job: ImportJob) -> tuple[_Stage, AccountBook, pd.DataFrame]:
    """Pass one: every block converted and parked, accounts remembered, laundering rows kept."""
    stage, book, suspicious = _Stage(job.scratch), AccountBook(), []
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


def _manifest(job: ImportJob, stage: _Stage, susp: pd.DataFrame, accounts: pa.Table) -> dict:
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


def _write_ordered(w: DatasetWriter, job: ImportJob, stage: _Stage, susp: pd.DataFrame) -> None:
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
        job = ImportJob(fmt, expand(paths, work.path), options)
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


# --------------------------------------------------------------------------------------------------
# Export


def _locate(root: Path, rel: str) -> Path:
    for p in (root / f"{rel}.parquet", root / rel):
        if p.exists():
            return p
    raise InputError(f"{root}: {rel}.parquet is missing; is this a finlab dataset?")


def _parquet_files(path: Path) -> list[Path]:
    return sorted(path.rglob("*.parquet")) if path.is_dir() else [path]


def _parquet(read, path: Path):
    """read(path), with a truncated, empty or foreign file as one line naming it."""
    try:
        return read(path)
    except (pa.ArrowException, OSError) as e:
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a readable Parquet file ({why})") from None


def _read_small(root: Path, rel: str) -> pd.DataFrame:
    table = pa.concat_tables([_parquet(pq.read_table, p) for p in
                              _parquet_files(_locate(root, rel))])
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
        self.txn_files = _parquet_files(_locate(self.root, "transactions"))
        labels = self.root / "labels"
        self.has_labels = (labels / "transactions.parquet").exists() or (
            labels / "transactions").is_dir()
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
        for p in _parquet_files(_locate(self.root / "labels", "transactions")):
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
                   force: bool = False, progress: Progress = _quiet) -> dict:
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


@dataclass
class Steps:
    """Step numbers of an export counted in steps of `unit` from midnight of the first day."""

    start: int
    unit: int

    def of(self, ts: np.ndarray) -> np.ndarray:
        return (ts - self.start) // self.unit


@dataclass
class Vocabulary:
    """A format's words for finlab values both ways (e.g. currency names), with fallbacks."""

    to_code: dict[str, str]
    to_name: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.to_name:
            self.to_name = {}
            for name, code in self.to_code.items():
                self.to_name.setdefault(code, name)

    def names(self, codes: np.ndarray | pd.Series) -> np.ndarray:
        """Codes as the format's names; codes without a name are written as they are."""
        s = pd.Series(codes, dtype=object)
        return s.map(self.to_name).fillna(s).to_numpy()
