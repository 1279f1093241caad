"""Mule pass-through: money arrives on a mule's account and leaves again within hours."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from finlab.typologies.base import TYPOLOGIES
from finlab.typologies.patterns import (
    CountRange,
    Hours,
    PatternParams,
    PatternTypology,
    Shape,
    draw,
    ragged,
    slot_roles,
    totals,
)


@TYPOLOGIES.register("mule_passthrough")
class MulePassthrough(PatternTypology):
    """A mule receives money and forwards it within hours, keeping a small cut."""

    class Params(PatternParams):
        inflows: CountRange = Field(
            (1, 4), description="payments received per mule, each from another source (assumption)")
        amount_median: float = Field(
            2_500.0, gt=0, description="EUR, median of one inflow, log-normal (assumption)")
        amount_sigma: float = Field(0.5, ge=0, le=3, description="log-normal spread of an inflow")
        fee: float = Field(0.1, ge=0, lt=1, description="the mule's cut (AMLSim margin_ratio 0.1)")
        forward_hours: Hours = Field(
            (0.5, 6.0), description="active hours from an inflow to its outflow (assumption)")
        delay_hours: Hours = Field(
            (24.0, 160.0),
            description="active hours between one forwarded payment and the next inflow")
        spread_days: float = Field(
            0.0, ge=0, le=365, description="active days added to each step; 0 keeps every outflow "
            "within forward_hours of its inflow")
        hours: Literal["office", "personal"] = Field(
            "personal", description="daily window: personal 07-23 local, office 08-18")
        references: list[str] = Field(["", "", "payment", "transfer", "thanks"],
                                      description="payment references ('' for none)")

    def gaps(self, rng, step):
        fwd = rng.uniform(*self.params.forward_hours, step.size)
        return np.where(step % 2 == 1, fwd, rng.uniform(*self.params.delay_hours, step.size))

    def shape(self, rng, n):
        p = self.params
        k = draw(rng, p.inflows, n)
        case, r = ragged(k)
        amount = totals(rng, case.size, p.amount_median, p.amount_sigma)
        role = slot_roles(k + 2, lambda c, s: np.select(
            [s == 0, s <= k[c]], ["mule", "source"], "collector"))
        mule = np.zeros_like(r)
        return Shape.concat(k + 2, role, [
            {"case": case, "src": r + 1, "dst": mule, "step": 2 * r, "amount": amount},
            {"case": case, "src": mule, "dst": k[case] + 1, "step": 2 * r + 1,
             "amount": amount * (1 - p.fee)},
        ])
