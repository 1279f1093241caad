"""Table schemas of a finlab dataset, the Dataset and Labels containers, and validation.

A dataset is a directory of Parquet files (see `finlab.io`). Observables (countries, banks, parties,
accounts, transactions) and labels (truth, kept apart under labels/) are separate tables so that a
detector can be handed `Dataset.without_labels()` and nothing else.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa

TS = pa.timestamp("s", tz="UTC")
ID = pa.int64()
STR = pa.string()

COUNTRIES = pa.schema(
    [
        ("country", STR),
        ("name", STR),
        ("currency", STR),
        ("utc_offset", pa.float32()),
        ("risk", STR),
    ]
)
BANKS = pa.schema([("bank_id", STR), ("name", STR), ("country", STR), ("kind", STR)])
PARTIES = pa.schema(
    [
        ("party_id", ID),
        ("kind", STR),
        ("name", STR),
        ("country", STR),
        ("household_id", ID),
        ("sector", STR),
    ]
)
ACCOUNTS = pa.schema(
    [
        ("account_id", ID),
        ("party_id", ID),
        ("bank_id", STR),
        ("country", STR),
        ("currency", STR),
        ("kind", STR),
        ("opened_at", TS),
    ]
)
TRANSACTIONS = pa.schema(
    [
        ("txn_id", ID),
        ("ts", TS),
        ("src_account", ID),
        ("dst_account", ID),
        ("src_bank", STR),
        ("dst_bank", STR),
        ("src_country", STR),
        ("dst_country", STR),
        ("amount", pa.float64()),
        ("currency", STR),
        ("amount_base", pa.float64()),
        ("channel", STR),
        ("reference", STR),
    ]
)
TRANSACTION_LABELS = pa.schema(
    [("txn_id", ID), ("is_suspicious", pa.bool_()), ("typology", STR), ("case_id", ID)]
)
ACCOUNT_LABELS = pa.schema(
    [("account_id", ID), ("role", STR), ("typology", STR), ("case_id", ID)]
)
CASE_LABELS = pa.schema(
    [
        ("case_id", ID),
        ("typology", STR),
        ("parameters", STR),
        ("first_ts", TS),
        ("last_ts", TS),
        ("n_accounts", pa.int64()),
        ("n_transactions", pa.int64()),
    ]
)
PARTY_ATTRIBUTES = pa.schema([("party_id", ID), ("age", pa.int16()), ("sex", STR)])
OBSERVED_LABELS = pa.schema(
    [("account_id", ID), ("flagged_at", TS), ("source", STR), ("case_id", ID)]
)

#: observable tables: file stem -> schema
OBSERVABLES: dict[str, pa.Schema] = {
    "countries": COUNTRIES,
    "banks": BANKS,
    "parties": PARTIES,
    "accounts": ACCOUNTS,
    "transactions": TRANSACTIONS,
}
#: label tables under labels/: file stem -> schema
LABELS: dict[str, pa.Schema] = {
    "transactions": TRANSACTION_LABELS,
    "accounts": ACCOUNT_LABELS,
    "cases": CASE_LABELS,
    "party_attributes": PARTY_ATTRIBUTES,
    "observed": OBSERVED_LABELS,
}

def storage_schema(schema: pa.Schema) -> pa.Schema:
    """The on-disk schema: strings dictionary-encoded (they read back as pandas categoricals)."""
    return pa.schema(
        [
            pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
            if pa.types.is_string(f.type) else f
            for f in schema
        ]
    )


CHANNELS = ("card", "transfer", "remittance", "p2p_app", "crypto", "cash")
BANK_KINDS = ("bank", "money_services", "payment_app")
ACCOUNT_KINDS = ("current", "savings", "wallet", "business", "merchant", "cash")


@dataclass(frozen=True)
class Labels:
    """The truth about a dataset: per transaction, per account, per case (never given to score())."""

    transactions: pd.DataFrame
    accounts: pd.DataFrame
    cases: pd.DataFrame
    party_attributes: pd.DataFrame | None = None
    observed: pd.DataFrame | None = None  # noisy, delayed labels as an investigator would see them


@dataclass(frozen=True)
class Dataset:
    """Observable tables of one payment world, plus its labels when they are known."""

    countries: pd.DataFrame
    banks: pd.DataFrame
    parties: pd.DataFrame
    accounts: pd.DataFrame
    transactions: pd.DataFrame
    labels: Labels | None = None
    manifest: dict = field(default_factory=dict)

    def without_labels(self) -> Dataset:
        """The same observables with the truth removed: what a detector may see."""
        return replace(self, labels=None)

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)

    def validate(self) -> list[str]:
        """Every schema and integrity problem of this dataset (empty when it is sound)."""
        return validate(self)


#: time prefixes: id(view.transactions) -> (the view's transactions, the dataset it was cut from)
_PREFIX_OF: dict[int, tuple[weakref.ref, weakref.ref]] = {}


def mark_prefix(view: Dataset, source: Dataset) -> None:
    """Record that `view` holds the payments of `source` before a cutoff (and nothing else), so
    results that only look back in time (strict payment features) can be computed once on the
    source and cut for each view. Held weakly: nothing is kept alive for it."""
    root = prefix_source(source) or source
    for stale in [k for k, (ref, _) in _PREFIX_OF.items() if ref() is None]:
        del _PREFIX_OF[stale]
    _PREFIX_OF[id(view.transactions)] = (weakref.ref(view.transactions), weakref.ref(root))


def prefix_source(view: Dataset) -> Dataset | None:
    """The dataset `view` was cut from by time (see `mark_prefix`), if it is still alive."""
    entry = _PREFIX_OF.get(id(view.transactions))
    if entry is None or entry[0]() is not view.transactions:
        return None
    return entry[1]()


def empty_table(schema: pa.Schema) -> pd.DataFrame:
    return schema.empty_table().to_pandas()


def _check_columns(problems: list[str], where: str, df: pd.DataFrame, schema: pa.Schema) -> None:
    have = list(df.columns)
    for name in schema.names:
        if name not in have:
            problems.append(f"{where}: column {name!r} is missing")
    for name in have:
        if name not in schema.names:
            problems.append(f"{where}: column {name!r} is not part of the schema")
    for f in schema:
        if f.name not in have:
            continue
        col = df[f.name]
        if f.name in ("case_id", "typology", "first_ts", "last_ts"):
            continue  # may be null by design
        if col.isna().any():
            problems.append(f"{where}.{f.name}: {int(col.isna().sum())} missing values")
        if pa.types.is_timestamp(f.type) and not pd.api.types.is_datetime64_any_dtype(col):
            problems.append(f"{where}.{f.name}: expected timestamps, got {col.dtype}")
        if pa.types.is_integer(f.type) and not pd.api.types.is_integer_dtype(col):
            problems.append(f"{where}.{f.name}: expected integers, got {col.dtype}")
        if pa.types.is_floating(f.type) and not pd.api.types.is_numeric_dtype(col):
            problems.append(f"{where}.{f.name}: expected numbers, got {col.dtype}")
        elif pa.types.is_floating(f.type):
            infinite = int(np.isinf(col.to_numpy(np.float64, na_value=np.nan)).sum())
            if infinite:
                problems.append(f"{where}.{f.name}: {infinite} infinite values")


def _check_unique(problems: list[str], where: str, col: pd.Series) -> None:
    dup = int(col.duplicated().sum())
    if dup:
        problems.append(f"{where}.{col.name}: {dup} duplicated ids")


def _check_in(problems, where: str, values: pd.Series, allowed: pd.Series, what: str) -> None:
    missing = ~values.isin(allowed)
    if missing.any():
        example = values[missing].iloc[0]
        problems.append(
            f"{where}.{values.name}: {int(missing.sum())} values not in {what} (e.g. {example!r})"
        )


def validate(ds: Dataset) -> list[str]:
    """Check columns, ids and referential integrity, and list every problem at once."""
    problems: list[str] = []
    for name, schema in OBSERVABLES.items():
        _check_columns(problems, name, ds.table(name), schema)
    if ds.labels is not None:
        for name, schema in LABELS.items():
            df = getattr(ds.labels, name)
            if df is not None:
                _check_columns(problems, f"labels/{name}", df, schema)
    if problems:  # integrity checks below need the columns
        return problems

    _check_unique(problems, "countries", ds.countries["country"])
    _check_unique(problems, "banks", ds.banks["bank_id"])
    _check_unique(problems, "parties", ds.parties["party_id"])
    _check_unique(problems, "accounts", ds.accounts["account_id"])
    _check_unique(problems, "transactions", ds.transactions["txn_id"])
    countries = ds.countries["country"]
    _check_in(problems, "banks", ds.banks["country"], countries, "countries")
    _check_in(problems, "parties", ds.parties["country"], countries, "countries")
    _check_in(problems, "accounts", ds.accounts["party_id"], ds.parties["party_id"], "parties")
    _check_in(problems, "accounts", ds.accounts["bank_id"], ds.banks["bank_id"], "banks")

    tx = ds.transactions
    acc = ds.accounts.set_index("account_id")
    for side in ("src", "dst"):
        ids = tx[f"{side}_account"]
        _check_in(problems, "transactions", ids, ds.accounts["account_id"], "accounts")
        known = ids.isin(acc.index)
        bank = acc["bank_id"].reindex(ids[known]).astype(str).to_numpy()
        country = acc["country"].reindex(ids[known]).astype(str).to_numpy()
        bad_bank = int((tx.loc[known, f"{side}_bank"].astype(str).to_numpy() != bank).sum())
        bad_country = int((tx.loc[known, f"{side}_country"].astype(str).to_numpy() != country).sum())
        if bad_bank:
            problems.append(f"transactions.{side}_bank: {bad_bank} rows differ from the account's bank")
        if bad_country:
            problems.append(
                f"transactions.{side}_country: {bad_country} rows differ from the account's country"
            )
    if (tx["amount"] <= 0).any():
        problems.append(f"transactions.amount: {int((tx['amount'] <= 0).sum())} rows not positive")
    if len(tx) > 1 and not tx["ts"].is_monotonic_increasing:
        problems.append("transactions.ts: rows are not ordered by time")

    if ds.labels is not None:
        lt = ds.labels.transactions
        _check_in(problems, "labels/transactions", lt["txn_id"], tx["txn_id"], "transactions")
        _check_in(
            problems, "labels/accounts", ds.labels.accounts["account_id"], ds.accounts["account_id"],
            "accounts",
        )
        cases = ds.labels.cases["case_id"]
        flagged = lt.loc[lt["is_suspicious"].astype(bool), "case_id"]
        if flagged.isna().any():
            problems.append(
                f"labels/transactions.case_id: {int(flagged.isna().sum())} suspicious rows have no case"
            )
        _check_in(problems, "labels/transactions", flagged.dropna(), cases, "labels/cases")
    return problems
