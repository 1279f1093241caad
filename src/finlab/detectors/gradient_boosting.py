"""Gradient boosting on account features (supervised): the strongest tabular baseline in the
published AML benchmarks once graph features are included."""

from __future__ import annotations

from pydantic import Field

from finlab.detectors.base import DETECTORS
from finlab.detectors.tabular import TabularDetector, TabularParams, score_sensitivity


@DETECTORS.register("gradient_boosting")
class GradientBoosting(TabularDetector):
    """Histogram gradient boosting (scikit-learn) on windowed account and graph features."""

    supervised = True

    class Params(TabularParams):
        max_iter: int = Field(100, ge=1, description="boosting rounds")
        learning_rate: float = Field(0.1, gt=0, description="shrinkage")
        max_leaf_nodes: int = Field(15, ge=2)
        l2_regularization: float = Field(1.0, ge=0)
        class_weight: str | None = Field(
            None, description="'balanced' or null (weighted fits are several times slower)")

    def make_model(self):
        from sklearn.ensemble import HistGradientBoostingClassifier

        p = self.params
        return HistGradientBoostingClassifier(
            max_iter=p.max_iter, learning_rate=p.learning_rate, max_leaf_nodes=p.max_leaf_nodes,
            l2_regularization=p.l2_regularization, class_weight=p.class_weight,
            early_stopping=False, random_state=p.seed)

    def feature_importances(self, X, y):
        return score_sensitivity(X, self.raw_scores(X))
