"""Scatter-gather: a source splits money over intermediaries that all pass it on to one sink."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.typologies.base import TYPOLOGIES
from finlab.typologies.patterns import (
    CountRange,
    PatternParams,
    PatternTypology,
    Shape,
    draw,
    ragged,
    shares,
    slot_roles,
    totals,
)


@TYPOLOGIES.register("scatter_gather")
class ScatterGather(PatternTypology):
    """A source splits money over intermediaries that forward it to one sink (AMLworld)."""

    class Params(PatternParams):
        intermediaries: CountRange = Field(
            (3, 8), description="intermediaries per case; AMLSim's typologies sample uses 7 "
            "accounts, i.e. 5 intermediaries (paramFiles/typologies/alertPatterns.csv)")

    def shape(self, rng, n):
        p = self.params
        k = draw(rng, p.intermediaries, n)
        case, i = ragged(k)
        amount = totals(rng, n, p.amount_median, p.amount_sigma)[case] * shares(rng, case, n)
        sink = k[case] + 1
        role = slot_roles(k + 2, lambda c, j: np.select(
            [j == 0, j == k[c] + 1], ["source", "sink"], "intermediary"))
        return Shape.concat(k + 2, role, [
            {"case": case, "src": np.zeros_like(i), "dst": i + 1, "step": np.zeros_like(i),
             "amount": amount},
            {"case": case, "src": i + 1, "dst": sink, "step": np.ones_like(i),
             "amount": amount * (1 - p.fee)},
        ])
