"""Gather-scatter: many sources pay one hub, which pays many sinks (AMLworld GATHER-SCATTER)."""

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


@TYPOLOGIES.register("gather_scatter")
class GatherScatter(PatternTypology):
    """Many sources pay one hub account, which then pays many sinks."""

    class Params(PatternParams):
        sources: CountRange = Field(
            (3, 8), description="paying accounts per case; AMLSim's typologies sample uses 11 "
            "accounts, i.e. 5 in, a hub and 5 out (paramFiles/typologies/alertPatterns.csv)")
        sinks: CountRange = Field((3, 8), description="receiving accounts per case (as above)")

    def shape(self, rng, n):
        p = self.params
        k, m = draw(rng, p.sources, n), draw(rng, p.sinks, n)
        total = totals(rng, n, p.amount_median, p.amount_sigma)
        ci, i = ragged(k)
        co, j = ragged(m)
        role = slot_roles(k + m + 1, lambda c, s: np.select(
            [s == 0, s <= k[c]], ["intermediary", "source"], "sink"))
        return Shape.concat(k + m + 1, role, [
            {"case": ci, "src": i + 1, "dst": np.zeros_like(i), "step": np.zeros_like(i),
             "amount": total[ci] * shares(rng, ci, n)},
            {"case": co, "src": np.zeros_like(j), "dst": k[co] + 1 + j, "step": np.ones_like(j),
             "amount": total[co] * (1 - p.fee) * shares(rng, co, n)},
        ])
