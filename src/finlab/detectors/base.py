"""The detector contract: `fit(data, labels=None) -> self`, `score(data) -> Series` (higher is more
suspicious, indexed by account_id or txn_id), `explain(data, ids) -> DataFrame` (why).

A detector never sees labels in `score`: it receives the dataset without them. Parameters come
from a pydantic `Params` model (unknown keys forbidden); learned state lives in attributes ending
in "_", as in scikit-learn.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from finlab.errors import InputError
from finlab.features import DEFAULT_WINDOWS, as_of_time, build_ledger, ledger_features
from finlab.registry import Configurable, Registry
from finlab.schema import Dataset, Labels
from finlab.truth import suspicious_accounts

Level = Literal["account", "transaction"]


class Detector(Configurable):
    """One way of ranking accounts (or transactions) by how suspicious they look."""

    name: ClassVar[str]
    level: ClassVar[Level] = "account"
    supervised: ClassVar[bool] = False
    family: ClassVar[str] = "other"
    #: what it learns names accounts of the training world (a watchlist), so it carries over to
    #: later data of the same world, not to another world
    learns_account_ids: ClassVar[bool] = False
    #: the optional extra (pyproject's optional-dependencies) the detector needs, and the modules
    #: that extra brings; None for detectors that run on the default install
    extra: ClassVar[str | None] = None
    extra_modules: ClassVar[tuple[str, ...]] = ()

    def fit(self, data: Dataset, labels: Labels | None = None) -> Detector:
        """Learn what the detector needs from a training dataset; unsupervised ones only check
        their input. Returns self."""
        if self.supervised:
            require_labels(self, labels if labels is not None else data.labels)
        self.fitted_ = True
        return self

    def score(self, data: Dataset) -> pd.Series:
        raise NotImplementedError

    def explain(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        """Why these ids scored as they did: columns id, reason, value, weight (one row per
        reason, most important first)."""
        raise NotImplementedError

    def account_scores(self, data: Dataset) -> pd.Series:
        """Scores by account_id (an account detector's own; payment detectors aggregate)."""
        return self.score(data)

    def explain_accounts(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        """`explain` for accounts (payment detectors explain each account's top payment)."""
        return self.explain(data, ids)

    def check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise InputError(f"detector {self.name!r}: call fit() before score()")


DETECTORS: Registry[type[Detector]] = Registry("detector")


def missing_extra(cls: type[Detector]) -> str | None:
    """The install line a detector still needs (`pip install "finlab[gnn]"`), or None when its
    extra's modules import here. Looked up without importing them, so listing stays fast."""
    from importlib.util import find_spec

    if cls.extra is None or all(find_spec(m) is not None for m in cls.extra_modules):
        return None
    return f'pip install "finlab[{cls.extra}]"'


def make_detector(name: str, params: dict | None = None) -> Detector:
    """A detector by registry name with validated parameters (unknown keys: InputError; a
    detector whose optional extra is not installed: InputError naming the install line)."""
    from pydantic import ValidationError

    cls = DETECTORS.get(name)
    needs = missing_extra(cls)
    if needs is not None:
        raise InputError(f"detector {name!r} needs the {cls.extra} extra: {needs}")
    try:
        return cls(params)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(parameters)"
        raise InputError(f"detector {name!r}: parameter {where}: {first['msg']}") from None


def require_labels(detector: Detector, labels: Labels | None) -> Labels:
    if labels is None:
        raise InputError(
            f"detector {detector.name!r} is supervised and the training dataset has no labels "
            "(labels/ directory); pass a labelled dataset with --train")
    return labels


def account_targets(labels: Labels, ids: pd.Index) -> np.ndarray:
    """1 for accounts with a role in a suspicious case, else 0, aligned with `ids`."""
    return ids.isin(suspicious_accounts(labels)).astype(np.int8)


def explanation(ids, reasons, values, weights) -> pd.DataFrame:
    """The common explanation frame, sorted by id then weight (largest first)."""
    df = pd.DataFrame({"id": np.asarray(ids, np.int64), "reason": np.asarray(reasons, object),
                       "value": np.asarray(values, np.float64),
                       "weight": np.asarray(weights, np.float64)})
    return df.sort_values(["id", "weight"], ascending=[True, False], kind="stable").reset_index(
        drop=True)


# --- ledgers and features shared by detectors, computed once per dataset object and cutoff -------

_CACHE: dict[tuple, tuple[weakref.ref, object, int]] = {}
#: cached results may hold at most this share of the memory free when caching starts (at least
#: 1 GiB): an experiment's views of a large world each carry gigabytes of payment features
CACHE_SHARE = 0.25
_budget: list[float] = []


def cache_budget() -> float:
    """Bytes the cache may hold, fixed the first time it is asked."""
    if not _budget:
        from finlab.memory import available_bytes

        free = available_bytes()
        _budget.append(max(CACHE_SHARE * free, 2.0**30) if free else 4 * 2.0**30)
    return _budget[0]


def nbytes(value) -> int:
    """Approximate bytes of a cached result: frames, series and arrays, also inside tuples and
    plain objects (ledgers); anything else counts as nothing."""
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(index=True, deep=False).sum())
    if isinstance(value, pd.Series):
        return int(value.memory_usage(index=True, deep=False))
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, tuple | list):
        return sum(nbytes(v) for v in value)
    fields = getattr(value, "__dict__", None)
    return sum(nbytes(v) for v in fields.values()) if isinstance(fields, dict) else 0


def cached(data: Dataset, what: tuple, compute):
    """Memoise `compute()` for as long as `data.transactions` lives: several detectors and rule
    files on one dataset build the ledger and the features once, and a detector's score and
    explain share their intermediate results. The oldest results go first when the cache would
    pass its memory budget (`cache_budget`) or 12 entries."""
    key = (id(data.transactions), id(data.accounts), str(as_of_time(data)), *what)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is data.transactions:
        return hit[1]
    value = compute()
    size = nbytes(value)
    for stale in [k for k, (ref, _, _) in _CACHE.items() if ref() is None]:
        del _CACHE[stale]
    budget = cache_budget()
    while _CACHE and (len(_CACHE) >= 12
                      or sum(e[2] for e in _CACHE.values()) + size > budget):
        del _CACHE[next(iter(_CACHE))]
    _CACHE[key] = (weakref.ref(data.transactions), value, size)
    return value


def ledger_for(data: Dataset):
    """The ledger of `data` as of its end, cached."""
    return cached(data, ("ledger",), lambda: build_ledger(data))


def features_for(data: Dataset, windows: Sequence[int] = DEFAULT_WINDOWS) -> pd.DataFrame:
    """`account_features` as of the end of `data`, cached."""
    return cached(data, ("features", tuple(windows)),
                   lambda: ledger_features(ledger_for(data), windows))
