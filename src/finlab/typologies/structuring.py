"""Structuring: cash deposits kept just under a reporting threshold, then one transfer out."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from finlab.typologies.base import TYPOLOGIES
from finlab.typologies.patterns import (
    CASH,
    CountRange,
    Money,
    PatternParams,
    PatternTypology,
    Shape,
    draw,
    ragged,
)
from finlab.world.behaviours.base import channel


@TYPOLOGIES.register("structuring")
class Structuring(PatternTypology):
    """Many cash deposits just under the reporting threshold, then the sum transferred out."""

    class Params(PatternParams):
        threshold: float = Field(
            10_000.0, gt=0, description="EUR-equivalent cash reporting threshold (US currency "
            "transaction reports from USD 10,000, 31 CFR 1010.311)")
        deposit_amount: Money = Field(
            (8_000.0, 9_900.0),
            description="EUR, each deposit uniform in this range, below the threshold")
        deposits: CountRange = Field((4, 10), description="cash deposits per case (assumption)")
        spread_days: float = Field(
            4.0, ge=0, le=365, description="active days over which the deposits are made")
        fee: float = Field(
            0.02, ge=0, lt=1, description="share the depositor keeps before transferring the rest")
        references: list[str] = Field(
            ["invoice", "loan", "payment", ""], description="references of the transfer out")

        @model_validator(mode="after")
        def _below_threshold(self):
            if self.deposit_amount[1] >= self.threshold:
                raise ValueError("deposit_amount: deposits must stay below the threshold")
            return self

    def shape(self, rng, n):
        p = self.params
        k = draw(rng, p.deposits, n)
        case, i = ragged(k)
        deposit = rng.uniform(*p.deposit_amount, case.size)
        out = np.arange(n)
        role = np.tile(np.array(["mule", "collector"], dtype=object), n)
        return Shape.concat(np.full(n, 2), role, [
            {"case": case, "src": np.full(case.size, CASH), "dst": np.zeros_like(i),
             "step": np.zeros_like(i), "amount": deposit, "channel": channel("cash")},
            {"case": out, "src": np.zeros(n, np.int64), "dst": np.ones(n, np.int64),
             "step": np.ones(n, np.int64), "amount": np.bincount(case, deposit, n) * (1 - p.fee)},
        ])
