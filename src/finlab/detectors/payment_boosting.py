"""Gradient boosting on payment features (supervised): scores each payment, the task the
published AML benchmarks (AMLworld, SAML-D) measure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from finlab.detectors.base import DETECTORS, explanation
from finlab.detectors.payment_common import PaymentDetector, PaymentParams, per_payment
from finlab.detectors.tabular import fit_threads, score_sensitivity
from finlab.features.payments import OWN_COLUMNS
from finlab.rng import generator
from finlab.schema import Dataset, Labels

#: the plain baseline's activity columns: payments made and received by each end before
PLAIN_COUNTS = {f"{end}_{d}_count_{w}" for end in ("src", "dst") for d in ("out", "in")
                for w in ("1h", "1d", "7d")} | {"pair_before"}

#: payments predicted at once (bounds the float64 copy of their features)
PREDICT_BLOCK = 500_000


@DETECTORS.register("payment_boosting")
class PaymentBoosting(PaymentDetector):
    """Histogram gradient boosting (scikit-learn) on each payment's own fields, its ends'
    trailing activity and the graph patterns through it.

    Class imbalance (laundering is well under 1% of payments): each suspicious payment weighs
    sqrt(negatives / positives) in the fit. Full balancing (the ratio itself) over-fits the few
    positives and inflates scores of look-alikes; no weighting lets trees ignore the rare class.
    The square root sits between the two; `positive_weight` overrides it. Large training sets
    are cut to `max_train_rows` by sampling ordinary payments (weighted up to stay unbiased)."""

    supervised = True

    class Params(PaymentParams):
        max_iter: int = Field(100, ge=1, description="boosting rounds")
        learning_rate: float = Field(0.1, gt=0, description="shrinkage")
        max_leaf_nodes: int = Field(31, ge=2)
        min_samples_leaf: int = Field(20, ge=1)
        l2_regularization: float = Field(1.0, ge=0)
        positive_weight: float | None = Field(
            None, gt=0, description="weight of a suspicious payment (default sqrt(neg/pos))")
        features: Literal["all", "plain"] = Field(
            "all", description="all payment features, or plain: the payment's own fields and "
            "its payer's and payee's payment counts before it (a baseline without graph "
            "patterns)")
        max_train_rows: int = Field(
            200_000, ge=1000, description="above this, a seeded sample of the ordinary payments "
            "is fitted (every suspicious one kept), each weighted up by the inverse share")
        seed: int = Field(0, description="seed of the model and of the training sample")

    def fit(self, data: Dataset, labels: Labels | None = None) -> PaymentBoosting:
        from sklearn.ensemble import HistGradientBoostingClassifier

        frame = self.features(data)
        if self.params.features == "plain":
            frame = frame[[c for c in frame.columns if c in OWN_COLUMNS or c in PLAIN_COUNTS]]
        y = self.targets(data, labels, frame.index)
        p = self.params
        pos = int(y.sum())
        weight = p.positive_weight or float(np.sqrt((y.size - pos) / pos))
        X = frame.to_numpy(np.float64)
        w = np.where(y == 1, weight, 1.0)
        if y.size > p.max_train_rows:  # keep every positive, sample the rest, weigh them up
            share = (p.max_train_rows - pos) / (y.size - pos)
            keep = (y == 1) | (generator(p.seed, "payment_boosting.sample").random(y.size) < share)
            X, y, w = X[keep], y[keep], np.where(y[keep] == 1, weight, 1.0 / share)
        self.columns_ = list(frame.columns)
        self.model_ = HistGradientBoostingClassifier(
            max_iter=p.max_iter, learning_rate=p.learning_rate, max_leaf_nodes=p.max_leaf_nodes,
            min_samples_leaf=p.min_samples_leaf, l2_regularization=p.l2_regularization,
            early_stopping=False, random_state=p.seed)
        with fit_threads(X.shape[0]):
            self.model_.fit(X, y, sample_weight=w)
        sample = generator(p.seed, "payment_boosting.explain").choice(
            X.shape[0], size=min(X.shape[0], 20_000), replace=False)
        sample.sort()
        self.importances_ = score_sensitivity(X[sample], self.model_.predict_proba(X[sample])[:, 1])
        self.center_ = np.median(X[sample], axis=0)
        q75, q25 = np.percentile(X[sample], [75, 25], axis=0)
        self.spread_ = np.where(q75 - q25 > 1e-9, q75 - q25, np.maximum(X[sample].std(axis=0), 1))
        self.fit_token_ = object()  # names this fit in the score cache
        self.fitted_ = True
        return self

    def _matrix(self, data: Dataset) -> pd.DataFrame:
        self.check_fitted()
        return self.features(data).reindex(columns=self.columns_, fill_value=0.0)

    def score(self, data: Dataset) -> pd.Series:
        """Each payment's probability of being suspicious, predicted in blocks (a float64 copy
        of all features at once would double the memory) and, in strict mode, once for every
        time prefix of the same data (see `per_payment`)."""
        self.check_fitted()
        return per_payment(data, self.params.mode, ("payment scores", self.fit_token_),
                           self._predict)

    def _predict(self, data: Dataset) -> pd.Series:
        frame = self._matrix(data)
        proba = np.empty(len(frame))
        for lo in range(0, len(frame), PREDICT_BLOCK):
            block = frame.iloc[lo:lo + PREDICT_BLOCK].to_numpy(np.float64)
            proba[lo:lo + PREDICT_BLOCK] = self.model_.predict_proba(block)[:, 1]
        return pd.Series(proba, index=frame.index, name=self.name, dtype=np.float64)

    def explain(self, data: Dataset, ids: Sequence, top: int = 5) -> pd.DataFrame:
        """A payment's reasons: features weighted by importance times how far its value sits
        from the training median."""
        frame = self._matrix(data)
        pos = frame.index.get_indexer(pd.Index(ids))
        pos = pos[pos >= 0]
        X = frame.to_numpy(np.float64)[pos]
        contrib = np.abs(X - self.center_) / self.spread_ * self.importances_
        best = np.argsort(-contrib, axis=1)[:, :top]
        rows = np.repeat(np.arange(pos.size), best.shape[1])
        cols = best.ravel()
        return explanation(frame.index[pos][rows], np.asarray(self.columns_, object)[cols],
                           X[rows, cols], contrib[rows, cols])
