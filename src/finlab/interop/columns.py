"""Arrow column helpers shared by the format readers and writers: dictionary columns built from
words, foreign typology names and currency codes, and approximate EUR rates."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

DICT = pa.dictionary(pa.int32(), pa.string())

#: approximate value of one unit of each currency in EUR (the base of amount_base) around 2023;
#: used only where a source has no exchange rates of its own
EUR_RATES = {
    "EUR": 1.0, "USD": 0.92, "GBP": 1.15, "JPY": 0.0065, "CNY": 0.13, "INR": 0.011, "RUB": 0.010,
    "CAD": 0.68, "AUD": 0.61, "CHF": 1.03, "MXN": 0.052, "BRL": 0.19, "SAR": 0.245, "ILS": 0.25,
    "AED": 0.25, "TRY": 0.034, "MAD": 0.091, "NGN": 0.0012, "ALL": 0.0097, "PKR": 0.0033,
    "NOK": 0.085, "SEK": 0.087, "DKK": 0.134, "PLN": 0.22, "PHP": 0.016, "THB": 0.026,
    "COP": 0.00022, "ZAR": 0.049, "HKD": 0.118, "SGD": 0.69, "KRW": 0.0007, "BTC": 25000.0,
}


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
