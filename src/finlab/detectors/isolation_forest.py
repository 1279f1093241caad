"""IsolationForest on account features (unsupervised): it ranks what is unusual, which shows how
far "unusual" is from "suspicious"."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.detectors.base import DETECTORS
from finlab.detectors.tabular import TabularDetector, TabularParams


@DETECTORS.register("isolation_forest")
class IsolationForestDetector(TabularDetector):
    """Isolation forest: accounts that few random splits isolate score high."""

    supervised = False

    class Params(TabularParams):
        n_estimators: int = Field(200, ge=1)
        max_samples: int = Field(4096, ge=16, description="rows per tree")

    def make_model(self):
        from sklearn.ensemble import IsolationForest

        return IsolationForest(n_estimators=self.params.n_estimators,
                               max_samples=min(self.params.max_samples, self.n_rows_),
                               random_state=self.params.seed, n_jobs=1)

    def fit(self, data, labels=None):
        # the model is fitted on features only: labels, if given, are ignored on purpose
        return super().fit(data, None)

    def raw_scores(self, X):
        return -self.model_.score_samples(X)

    def feature_importances(self, X, y):
        return np.ones(X.shape[1])
