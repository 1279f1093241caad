"""Reading CSV files block by block with pyarrow, with line-exact errors: the header is checked
first, then each block's text columns are converted and every bad row is named by its file line
(or counted and dropped with --skip-bad-lines)."""

from __future__ import annotations

import csv
import gzip
import io
import queue
import re
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from finlab.errors import InputError
from finlab.interop.columns import DICT, codes_for, reindexed


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
