"""Account features computed "as of" a cutoff from strictly earlier transactions, over trailing
windows of days.

Each feature group is a plain function `group(ledger, windows) -> {name: array per account}`
registered by name; `account_features` runs the chosen groups and returns one frame indexed by
account_id. Names end in the window they cover, e.g. `out_count_30d`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from finlab.errors import InputError
from finlab.features import (  # noqa: F401  (groups register on import)
    account,
    activity,
    counterparties,
    graph,
    peaks,
    temporal,
)
from finlab.features.groups import FEATURE_GROUPS, FeatureGroup
from finlab.features.ledger import DEFAULT_WINDOWS, Ledger, as_of_time, build_ledger
from finlab.schema import Dataset


def check_windows(windows: Iterable[int]) -> tuple[int, ...]:
    windows = list(windows)
    if not windows or any(isinstance(w, bool) or float(w) != int(w) or w < 1 for w in windows):
        raise InputError(f"feature windows must be whole days >= 1, got {windows}")
    return tuple(sorted({int(w) for w in windows}))


def ledger_features(lg: Ledger, windows: Sequence[int] = DEFAULT_WINDOWS,
                    groups: Sequence[str] | None = None) -> pd.DataFrame:
    """Run feature groups on a prepared ledger."""
    windows = check_windows(windows)
    columns: dict[str, np.ndarray] = {}
    for name in FEATURE_GROUPS.names() if groups is None else groups:
        columns.update(FEATURE_GROUPS.get(name)(lg, windows))
    frame = pd.DataFrame(columns, index=pd.Index(lg.account_id, name="account_id"))
    return frame.astype(np.float64)


def account_features(ds: Dataset, *, as_of: pd.Timestamp | None = None,
                     windows: Sequence[int] = DEFAULT_WINDOWS,
                     groups: Sequence[str] | None = None) -> pd.DataFrame:
    """Features of every account as of `as_of` (default: the end of the data), using only
    transactions strictly before it."""
    return ledger_features(build_ledger(ds, as_of), windows, groups)


def feature_names(windows: Sequence[int] = DEFAULT_WINDOWS,
                  groups: Sequence[str] | None = None) -> list[str]:
    """Every feature name the groups produce for these windows (from an empty ledger)."""
    return list(ledger_features(empty_ledger(), windows, groups).columns)


def empty_ledger() -> Ledger:
    i32, f64 = np.zeros(0, np.int32), np.zeros(0, np.float64)
    return Ledger(
        as_of=0, account_id=np.zeros(1, np.int64), src=i32, dst=i32, t=np.zeros(0, np.int64),
        amount=f64, amount_local=f64, channel=np.zeros(0, np.int16),
        src_country=np.zeros(0, np.int16), dst_country=np.zeros(0, np.int16),
        cross_border=np.zeros(0, bool), high_risk_dst=np.zeros(0, bool),
        local_hour=np.zeros(0, np.float32), cover_word=np.zeros(0, bool), src_bank=i32,
        dst_bank=i32, household=np.zeros(1, np.int64), account_kind=np.array(["current"], object),
    )


__all__ = [
    "DEFAULT_WINDOWS", "FEATURE_GROUPS", "FeatureGroup", "Ledger", "account_features", "as_of_time",
    "build_ledger", "feature_names", "ledger_features",
]
