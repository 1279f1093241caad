"""Cycle: money goes round a ring of accounts and back to where it started (AMLworld CYCLE)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.typologies.base import TYPOLOGIES
from finlab.typologies.patterns import (
    PatternParams,
    PatternTypology,
    Pool,
    Shape,
    decay,
    draw,
    ragged,
    slot_roles,
    totals,
)


@TYPOLOGIES.register("cycle")
class Cycle(PatternTypology):
    """Money passes round a ring of accounts, hop after hop, back to its origin."""

    class Params(PatternParams):
        length: Pool = Field(
            (3, 8), description="accounts in the ring (= hops); AMLSim's typologies sample uses 5 "
            "(paramFiles/typologies/alertPatterns.csv)")

    def shape(self, rng, n):
        p = self.params
        k = draw(rng, p.length, n)
        case, i = ragged(k)
        amount = decay(totals(rng, n, p.amount_median, p.amount_sigma)[case], i, p.fee)
        role = slot_roles(k, lambda c, j: np.where(j == 0, "source", "intermediary"))
        return Shape.concat(k, role, [{"case": case, "src": i, "dst": (i + 1) % k[case],
                                       "step": i, "amount": amount}])
