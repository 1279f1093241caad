"""Shared machinery of the tabular detectors: the account feature matrix in, one scikit-learn
model out, and explanations from feature importances weighted by how unusual the account's value
is."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import Field

from finlab.detectors.base import (
    Detector,
    account_targets,
    explanation,
    features_for,
    require_labels,
)
from finlab.errors import InputError
from finlab.features import DEFAULT_WINDOWS, FEATURE_GROUPS
from finlab.registry import StrictModel
from finlab.schema import Dataset, Labels


class TabularParams(StrictModel):
    windows: list[int] = Field(default_factory=lambda: list(DEFAULT_WINDOWS),
                               description="trailing windows of the features, in days")
    groups: list[str] | None = Field(None, description="feature groups (default: all)")
    seed: int = Field(0, description="seed of the model")


def fit_threads(rows: int, small: int = 50_000):
    """One thread for small fits (thread start-up and contention cost more than they save on a
    busy 2-core machine), the library's default otherwise."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    return threadpool_limits(1) if rows < small else nullcontext()


def signed_log(x: np.ndarray) -> np.ndarray:
    """log1p that keeps the sign: tames heavy-tailed counts and sums for linear models."""
    return np.sign(x) * np.log1p(np.abs(x))


class TabularDetector(Detector):
    """Features of each account as of the end of the data, scored by a scikit-learn model."""

    family: str = "tabular"
    Params = TabularParams

    def make_model(self):
        raise NotImplementedError

    def feature_importances(self, X: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        """Global importance of each column (non-negative, any scale)."""
        raise NotImplementedError

    def matrix(self, data: Dataset) -> pd.DataFrame:
        groups = self.params.groups
        for g in groups or []:
            FEATURE_GROUPS.get(g)  # unknown names fail with the list of known groups
        frame = features_for(data, tuple(self.params.windows))
        if groups:
            from finlab.features import feature_names

            frame = frame[feature_names(self.params.windows, groups)]
        return frame

    def fit(self, data: Dataset, labels: Labels | None = None) -> TabularDetector:
        frame = self.matrix(data)
        X = signed_log(frame.to_numpy(np.float64))
        y = None
        if self.supervised:
            labels = require_labels(self, labels if labels is not None else data.labels)
            y = account_targets(labels, frame.index)
            if y.sum() == 0 or y.sum() == y.size:
                raise InputError(f"detector {self.name!r}: the training labels hold only one "
                                 "class; it needs suspicious and other accounts")
        self.columns_ = list(frame.columns)
        self.n_rows_ = X.shape[0]
        self.center_ = np.median(X, axis=0)
        q75, q25 = np.percentile(X, [75, 25], axis=0)
        self.spread_ = np.where(q75 - q25 > 1e-9, q75 - q25, np.maximum(X.std(axis=0), 1.0))
        self.model_ = self.make_model()
        with fit_threads(X.shape[0]):
            if y is None:
                self.model_.fit(X)
            else:
                self.model_.fit(X, y)
        self.importances_ = self.feature_importances(X, y)
        self.fitted_ = True
        return self

    def _aligned(self, data: Dataset) -> tuple[pd.Index, np.ndarray]:
        self.check_fitted()
        frame = self.matrix(data).reindex(columns=self.columns_, fill_value=0.0)
        return frame.index, signed_log(frame.to_numpy(np.float64))

    def raw_scores(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X)[:, 1]

    def score(self, data: Dataset) -> pd.Series:
        index, X = self._aligned(data)
        return pd.Series(self.raw_scores(X), index=index, name=self.name, dtype=np.float64)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per row and column: importance x how far the value sits from the training median."""
        z = np.abs(X - self.center_) / self.spread_
        return z * self.importances_

    def explain(self, data: Dataset, ids: Sequence, top: int = 5) -> pd.DataFrame:
        index, X = self._aligned(data)
        pos = index.get_indexer(pd.Index(ids))
        pos = pos[pos >= 0]
        contrib = self.contributions(X[pos])
        best = np.argsort(-contrib, axis=1)[:, :top]
        rows = np.repeat(np.arange(pos.size), best.shape[1])
        cols = best.ravel()
        raw = np.sign(X[pos][rows, cols]) * np.expm1(np.abs(X[pos][rows, cols]))
        return explanation(index[pos][rows], np.asarray(self.columns_, object)[cols], raw,
                           contrib[rows, cols])


def score_sensitivity(X: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """How closely the model's score follows each column: absolute Spearman rank correlation
    on the training rows (model-agnostic and one pass, unlike permutation importance)."""
    from scipy.stats import rankdata

    ranks = rankdata(X, axis=0)
    ranks -= ranks.mean(axis=0)
    s = rankdata(scores)
    s -= s.mean()
    denom = np.sqrt((ranks**2).sum(axis=0) * (s**2).sum())
    return np.abs(np.divide(ranks.T @ s, denom, out=np.zeros(X.shape[1]), where=denom > 0))
