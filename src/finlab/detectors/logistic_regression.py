"""Logistic regression on log-scaled, standardised account features (supervised): a transparent
baseline whose coefficients an analyst can read."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.detectors.base import DETECTORS
from finlab.detectors.tabular import TabularDetector, TabularParams


@DETECTORS.register("logistic_regression")
class LogisticRegressionDetector(TabularDetector):
    """L2-regularised logistic regression with balanced class weights."""

    supervised = True

    class Params(TabularParams):
        C: float = Field(0.1, gt=0, description="inverse regularisation strength")
        max_iter: int = Field(2000, ge=10)

    def make_model(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(
            C=self.params.C, class_weight="balanced", max_iter=self.params.max_iter))

    def feature_importances(self, X, y):
        return np.abs(self.model_[-1].coef_[0])

    def contributions(self, X):
        """Exact for a linear model: coefficient x standardised value (positive = pushes up)."""
        scaled = self.model_[0].transform(X)
        return np.maximum(scaled * self.model_[-1].coef_[0], 0.0)
