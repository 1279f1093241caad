"""The indicator-rule detector: YAML rule files (the shipped OCSE and classic rules by default)
scored on account features; an account's score is its highest typology score."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import Field

from finlab.detectors.base import DETECTORS, Detector, explanation, features_for, ledger_for
from finlab.registry import StrictModel
from finlab.rules import SHIPPED, RuleSet, load_rules
from finlab.schema import Dataset

TIE_BREAK = 1e-3


@DETECTORS.register("rules")
class RuleDetector(Detector):
    """Indicator rules from YAML files: banded conditions, weighted into typology scores."""
    # an account's score is its highest typology score (plus 0.001 x the mean of all of them)

    family = "rules"

    class Params(StrictModel):
        files: list[str] = Field(default_factory=lambda: list(SHIPPED),
                                 description="rule files, or names of shipped ones")

    def rule_sets(self) -> list[RuleSet]:
        if not hasattr(self, "rule_sets_"):
            self.rule_sets_ = [load_rules(f) for f in self.params.files]
        return self.rule_sets_

    def fit(self, data: Dataset, labels=None) -> RuleDetector:
        self.rule_sets()  # rules are written by analysts, not learned: fit only loads them
        self.fitted_ = True
        return self

    def evaluate(self, data: Dataset) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Per account: rule values, rule scores and typology scores of every rule file."""
        self.check_fitted()
        parts = []
        for rs in self.rule_sets():
            ledger = ledger_for(data) if rs.needs_ledger else None
            parts.append(rs.evaluate(features_for(data, tuple(rs.spec.windows)), ledger))
        return tuple(pd.concat([p[i] for p in parts], axis=1) for i in range(3))

    def score(self, data: Dataset) -> pd.Series:
        _, _, typology = self.evaluate(data)
        # the highest typology score; the mean of all breaks ties among equal maxima
        return (typology.max(axis=1) + TIE_BREAK * typology.mean(axis=1)).rename(self.name)

    def explain(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        values, scores, _ = self.evaluate(data)
        weights = pd.Series({r.key: r.spec.weight for rs in self.rule_sets() for r in rs.rules})
        ids = pd.Index(ids)
        v = values.reindex(ids)
        contribution = scores.reindex(ids) * weights[scores.columns].to_numpy()
        fired = contribution.to_numpy() > 0
        rows, cols = np.nonzero(fired)
        return explanation(ids[rows], scores.columns[cols], v.to_numpy()[rows, cols],
                           contribution.to_numpy()[rows, cols])
