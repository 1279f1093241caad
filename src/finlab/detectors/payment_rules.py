"""Payment rules: a YAML file of banded conditions on payment features scores each payment
directly (the account rules only count an account's payments matching a condition)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from finlab.detectors.base import DETECTORS, explanation
from finlab.detectors.payment_common import PaymentDetector, PaymentParams
from finlab.errors import InputError
from finlab.features.payments import payment_feature_names
from finlab.registry import StrictModel
from finlab.rules import Band
from finlab.schema import Dataset

SHIPPED = "payment_patterns"  # the shipped file, src/finlab/rules/payment_patterns.yaml


class PaymentRuleSpec(StrictModel):
    id: str
    description: str = ""
    feature: str = Field(..., description="a payment feature (finlab.features.payments)")
    bands: list[Band] = Field(..., min_length=1)
    weight: float = Field(1.0, gt=0)


class PaymentRuleFile(StrictModel):
    name: str
    description: str = ""
    rules: list[PaymentRuleSpec] = Field(..., min_length=1)


@functools.lru_cache(maxsize=16)
def load_payment_rules(path: str) -> PaymentRuleFile:
    """Read and check a payment rule file: an unknown feature is one line naming the file, the
    line, the rule and the known features."""
    from finlab.config import read_model
    from finlab.rules import shipped_path

    source = str(shipped_path(path) if path == SHIPPED else Path(path))
    spec, lines = read_model(source, PaymentRuleFile, "a payment rule file")
    known = payment_feature_names()
    for i, r in enumerate(spec.rules):
        if r.feature not in known:
            line = lines.get(("rules", i, "feature"), "?")
            raise InputError(f"{source}:{line}: rules[{i}].feature ({r.id}): unknown payment "
                             f"feature {r.feature!r}; known: {', '.join(known)}")
    return spec


def banded(values: np.ndarray, bands: list[Band]) -> np.ndarray:
    out = np.zeros(values.size)
    for band in reversed(bands):  # the first matching band wins
        inside = np.ones(values.size, bool)
        if band.min is not None:
            inside &= values >= band.min
        if band.max is not None:
            inside &= values < band.max
        out = np.where(inside, band.score, out)
    return out


@DETECTORS.register("payment_rules")
class PaymentRules(PaymentDetector):
    """Banded rules on payment features, one YAML file; a payment's score is the weighted mean
    of its rules' band scores."""

    family = "rules"

    class Params(PaymentParams):
        file: str = Field(SHIPPED, description="payment rule file, or payment_patterns (shipped)")

    def fit(self, data: Dataset, labels=None) -> PaymentRules:
        self.rules_ = load_payment_rules(self.params.file)  # written by analysts, not learned
        self.fitted_ = True
        return self

    def rule_scores(self, data: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
        self.check_fitted()
        frame = self.features(data)
        missing = [r for r in self.rules_.rules if r.feature not in frame.columns]
        if missing:
            raise InputError(
                f"{self.params.file}: rule {missing[0].id}: feature {missing[0].feature!r} is "
                "left out on this dataset (its timestamps carry no time of day); left out: "
                f"{', '.join(frame.attrs.get('left_out', []))}")
        values = frame[[r.feature for r in self.rules_.rules]].set_axis(
            [r.id for r in self.rules_.rules], axis=1)
        scores = pd.DataFrame({r.id: banded(values[r.id].to_numpy(), r.bands)
                               for r in self.rules_.rules}, index=frame.index)
        return values, scores

    def score(self, data: Dataset) -> pd.Series:
        _, scores = self.rule_scores(data)
        w = np.array([r.weight for r in self.rules_.rules])
        return pd.Series(scores.to_numpy() @ w / w.sum(), index=scores.index, name=self.name)

    def explain(self, data: Dataset, ids: Sequence) -> pd.DataFrame:
        values, scores = self.rule_scores(data)
        ids = pd.Index(ids)
        w = np.array([r.weight for r in self.rules_.rules])
        contribution = scores.reindex(ids).to_numpy() * w
        rows, cols = np.nonzero(contribution > 0)
        names = np.array([f"{r.id}: {r.description or r.feature}" for r in self.rules_.rules],
                         object)
        return explanation(ids[rows], names[cols], values.reindex(ids).to_numpy()[rows, cols],
                           contribution[rows, cols])
