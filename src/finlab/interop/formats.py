"""The format contract: what a reader and writer of a foreign dataset provides, the columns of
the blocks a reader yields, and the registry of formats (filled by `finlab.interop`, which
imports every format module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from finlab.interop.accounts import component_keys
from finlab.interop.columns import DICT, as_array
from finlab.registry import Registry

if TYPE_CHECKING:  # the importer and exporter drive formats; formats only name them
    from finlab.interop.exporter import DatasetReader
    from finlab.interop.importer import ImportJob

Progress = Callable[[str, int, int], None]
UNIT_SECONDS = {"s": 1, "min": 60, "h": 3600, "D": 86400}
ZZ = "ZZ"  # the country of a format that has none


def quiet(stage: str, done: int, total: int) -> None:
    """A progress callback that shows nothing (the default outside the CLI)."""


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


def make_rows(n: int, **columns) -> pa.Table:
    """A block of rows for the import driver (see ROWS): scalars are repeated, texts become
    dictionary columns, optional columns may be left out."""
    names = list(ROWS) + [c for c in ROWS_OPTIONAL if c in columns]
    unknown = set(columns) - set(names)
    if unknown:
        raise TypeError(f"unknown row columns {sorted(unknown)}")
    arrays = [as_array(columns.get(c), n, ROWS.get(c) or ROWS_OPTIONAL[c]) for c in names]
    return pa.Table.from_arrays(arrays, names=names)


FORMATS: Registry[type[Format]] = Registry("format")


def get_format(name: str) -> Format:
    """A new reader/writer of a registered format (unknown names list the known ones)."""
    return FORMATS.get(name)()


def format_names() -> list[str]:
    """The registered formats."""
    return FORMATS.names()


@dataclass
class Steps:
    """Step numbers of an export counted in steps of `unit` from midnight of the first day."""

    start: int
    unit: int

    def of(self, ts: np.ndarray) -> np.ndarray:
        return (ts - self.start) // self.unit


@dataclass
class FormatWords:
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
