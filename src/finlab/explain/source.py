"""The payments an explanation needs, from a dataset directory or an in-memory Dataset, without
loading more than that: the picture's window in full, plus the whole history (before the cutoff)
of the explained accounts and of the population the features are compared with.

A directory is read column by column: the time and the two accounts of every payment first (three
integer columns), then all columns of only the row groups that hold a wanted row. Worlds with up
to POPULATION_ROWS payments before the cutoff use every account as the population; larger ones a
seeded sample of POPULATION_SAMPLE accounts, so a page on millions of payments stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from finlab.errors import InputError
from finlab.schema import Dataset, Labels

POPULATION_ROWS = 1_500_000
POPULATION_SAMPLE = 2_000
BUSINESS_KINDS = ("merchant", "business", "cash")


@dataclass
class Source:
    """A dataset's small tables in memory and its payments behind `keys` and `take`."""

    name: str
    countries: pd.DataFrame
    banks: pd.DataFrame
    parties: pd.DataFrame
    accounts: pd.DataFrame  # sorted by account_id: position = index
    labels: Labels | None
    manifest: dict
    dataset: Dataset | None = None  # in memory
    path: Path | None = None  # on disk
    _keys: tuple | None = field(default=None, repr=False)

    @property
    def account_ids(self) -> np.ndarray:
        return self.accounts["account_id"].to_numpy(np.int64)

    def keys(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(seconds UTC, payer id, payee id) of every payment, in file order."""
        if self._keys is None:
            if self.dataset is not None:
                tx = self.dataset.transactions
                t = seconds(tx["ts"])
                src, dst = tx["src_account"].to_numpy(np.int64), tx["dst_account"].to_numpy(np.int64)
            else:
                from finlab.io import require_table

                table = pq.read_table(require_table(self.path, "transactions"),
                                      columns=["ts", "src_account", "dst_account"])
                per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
                t = (table["ts"].cast(pa.int64()).to_numpy()
                     // per_second[table.schema.field("ts").type.unit])
                src = table["src_account"].to_numpy()
                dst = table["dst_account"].to_numpy()
            self._keys = (t, src, dst)
        return self._keys

    def take(self, mask: np.ndarray) -> pd.DataFrame:
        """The payments where `mask` is true, all columns, in file (time) order; from a
        directory only the row groups holding a wanted row are read."""
        if self.dataset is not None:
            return self.dataset.transactions[mask]
        from finlab.io import require_table, table_files
        from finlab.schema import TRANSACTIONS

        strings = [x.name for x in TRANSACTIONS if pa.types.is_string(x.type)]
        groups = [(f, i) for f in map(pq.ParquetFile, table_files(
            require_table(self.path, "transactions"))) for i in range(f.num_row_groups)]
        sizes = np.asarray([f.metadata.row_group(i).num_rows for f, i in groups], dtype=np.int64)
        ends = np.cumsum(sizes)
        parts = [f.read_row_group(i).filter(pa.array(mask[e - n:e]))
                 for (f, i), n, e in zip(groups, sizes, ends, strict=True) if mask[e - n:e].any()]
        table = (pa.concat_tables(parts) if parts
                 else pq.ParquetFile(table_files(require_table(self.path, "transactions"))[0])
                 .schema_arrow.empty_table())
        return table.unify_dictionaries().cast(pa.schema([
            pa.field(x.name, pa.dictionary(pa.int32(), pa.string())) if x.name in strings else x
            for x in table.schema])).to_pandas()

    def span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """Time of the first and the last payment."""
        t = self.keys()[0]
        if t.size == 0:
            raise InputError(f"{self.name}: the dataset has no payments")
        return (pd.Timestamp(int(t.min()), unit="s", tz="UTC"),
                pd.Timestamp(int(t.max()), unit="s", tz="UTC"))

    def dataset_of(self, transactions: pd.DataFrame, as_of: pd.Timestamp,
                   labels: bool = False) -> Dataset:
        """A Dataset of these payments as known at `as_of`, with labels cut to them if asked."""
        lab = None
        if labels and self.labels is not None:
            lab = self.labels
            lab = replace(lab, transactions=lab.transactions[
                lab.transactions["txn_id"].isin(transactions["txn_id"])])
        return Dataset(countries=self.countries, banks=self.banks, parties=self.parties,
                       accounts=self.accounts, transactions=transactions.reset_index(drop=True),
                       labels=lab, manifest={**self.manifest, "as_of": str(as_of)})

    def business(self) -> np.ndarray:
        """Business-owned accounts (merchants, employers, cash points), by position."""
        return self.accounts["kind"].astype(str).isin(BUSINESS_KINDS).to_numpy()

    def sectors(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """Each account's sector code (position in the names) and the sector names."""
        sector = (self.parties.set_index("party_id")["sector"].astype(str)
                  .reindex(self.accounts["party_id"]))
        kind = self.accounts["kind"].astype(str).to_numpy()
        name = np.where(sector.isna().to_numpy() | (sector.to_numpy() == "household"), kind,
                        sector.fillna("").to_numpy().astype(str))
        codes, names = pd.factorize(pd.Series(name), sort=True)
        return codes.astype(np.int64), tuple(names)


def seconds(ts: pd.Series) -> np.ndarray:
    return ts.dt.tz_convert("UTC").astype("datetime64[s, UTC]").astype("int64").to_numpy()


def open_source(data) -> Source:
    """A Source over a Dataset or a dataset directory (labels read if present)."""
    if isinstance(data, Dataset):
        return Source("dataset", data.countries, data.banks, data.parties,
                      data.accounts.sort_values("account_id").reset_index(drop=True),
                      data.labels, dict(data.manifest), dataset=data)
    import json

    from finlab.io import MANIFEST, locate_table, read_table
    from finlab.schema import LABELS, OBSERVABLES

    root = Path(data)
    if not root.is_dir():
        raise InputError(f"{root}: no such dataset directory")
    tables = {}
    for name in ("countries", "banks", "parties", "accounts"):
        p = locate_table(root, name)
        if p is None:
            raise InputError(f"{root}: {name}.parquet is missing; is this a finlab dataset?")
        tables[name] = read_table(p, OBSERVABLES[name])
    if locate_table(root, "transactions") is None:
        raise InputError(f"{root}: transactions.parquet is missing; is this a finlab dataset?")
    labels = None
    if (root / "labels" / "accounts.parquet").is_file():
        found = {n: read_table(p, LABELS[n]) if (p := locate_table(root / "labels", n)) is not None
                 else None for n in ("accounts", "cases", "observed")}
        labels = Labels(transactions=LABELS["transactions"].empty_table().to_pandas(),
                        accounts=found["accounts"],
                        cases=found["cases"] if found["cases"] is not None
                        else LABELS["cases"].empty_table().to_pandas(),
                        observed=found["observed"])
    manifest_path = root / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    tables["accounts"] = tables["accounts"].sort_values("account_id").reset_index(drop=True)
    return Source(str(root), **tables, labels=labels, manifest=manifest, path=root)


def population_mask(source: Source, as_of_s: int, centres: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows the features need (before the cutoff, touching the population or the centres) and
    the sampled population's account ids (None: every active account)."""
    t, src, dst = source.keys()
    before = t < as_of_s
    if int(before.sum()) <= POPULATION_ROWS:
        return before, None
    from finlab.rng import generator

    rng = generator(int(source.manifest.get("scenario", {}).get("seed", 0) or 0),
                    "explain-population")
    ids = source.account_ids
    sample = np.sort(rng.choice(ids, min(POPULATION_SAMPLE, ids.size), replace=False))
    wanted = np.r_[sample, ids[centres]]
    touch = pd.Series(src).isin(wanted).to_numpy() | pd.Series(dst).isin(wanted).to_numpy()
    return before & touch, sample
