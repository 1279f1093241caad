"""Writing a detector's scores and a first look at them: the top ids with their reasons and, on
labelled data, the average precision on OCSE cases and on all cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from finlab.features import DEFAULT_WINDOWS, as_of_time
from finlab.io import atomic_file
from finlab.reporting import account_truth, top_alerts
from finlab.schema import Dataset, Labels
from finlab.truth import Targets, period_targets

SCORES = pa.schema([("id", pa.int64()), ("level", pa.string()), ("score", pa.float64())])


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write Parquet to a temporary file beside `path`, then rename it into place; the file
    carries finlab's stamp in its metadata, so `--force` may replace it later."""
    from finlab.outputs import STAMP
    from finlab.version import __version__

    meta = {**(table.schema.metadata or {}), STAMP.encode(): __version__.encode()}
    with atomic_file(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)


def scores_table(scores: pd.Series, level: str) -> pa.Table:
    return pa.table({"id": scores.index.to_numpy(np.int64),
                     "level": np.full(len(scores), level, object),
                     "score": scores.to_numpy(np.float64)}, schema=SCORES)


def write_scores(scores: pd.Series, level: str, path: Path, explained: pd.DataFrame | None = None
                 ) -> None:
    """Scores as (id, level, score); explanations, if any, beside them."""
    write_atomic(scores_table(scores, level), path)
    if explained is not None:
        write_atomic(pa.Table.from_pandas(explained, preserve_index=False),
                     Path(path).with_suffix(".explanations.parquet"))


def detection_summary(scores: pd.Series, explained: pd.DataFrame, labels: Labels | None,
                      top: int, reasons: int = 3, level: str = "account") -> pd.DataFrame:
    """The top ids with their score (4 digits), their leading reasons and (if known) their true
    role (for payments: their typology), for the table `finlab detect` prints."""
    truth = None
    if labels is not None and level == "transaction":
        lt = labels.transactions.drop_duplicates("txn_id").set_index("txn_id")
        truth = lt["typology"].astype(str).where(lt["is_suspicious"].astype(bool),
                                                 "not suspicious")
    elif labels is not None:
        truth = account_truth(labels)
    frame = top_alerts(scores, explained, truth, top, reasons)
    frame["score"] = frame["score"].round(4)
    return frame


def evaluation_targets(data: Dataset, lookback_days: int = max(DEFAULT_WINDOWS),
                       typology: str | None = None) -> Targets:
    """The positives of the `lookback_days` before the data's end, as `finlab run` defines a
    period's positives (finlab.truth.period_targets): features as of the cutoff see that much."""
    cutoff = as_of_time(data)
    return period_targets(data, cutoff - pd.Timedelta(days=lookback_days), cutoff, typology)


def payment_average_precision(scores: pd.Series, data: Dataset) -> tuple[float, float]:
    """Average precision of payment scores against the suspicious payments, and its baseline."""
    from sklearn.metrics import average_precision_score

    lt = data.labels.transactions
    y = scores.index.isin(lt.loc[lt["is_suspicious"].astype(bool), "txn_id"])
    return float(average_precision_score(y, scores.to_numpy())), float(y.mean())


def average_precision_by_scope(scores: pd.Series, data: Dataset) -> dict[str, tuple[float, float]]:
    """Account-level average precision and its random baseline on OCSE cases and on all cases."""
    from sklearn.metrics import average_precision_score

    result = {}
    for scope, typology in (("OCSE cases", "ocse_payments"), ("all cases", None)):
        y = evaluation_targets(data, typology=typology).y
        s = scores.reindex(y.index).fillna(scores.min())
        if y.sum() == 0:
            continue
        result[scope] = (float(average_precision_score(y, s)), float(y.mean()))
    return result
