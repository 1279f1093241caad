"""Bipartite: a group of sources pays a group of sinks over many edges (AMLworld BIPARTITE)."""

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


@TYPOLOGIES.register("bipartite")
class Bipartite(PatternTypology):
    """A group of source accounts pays a group of sink accounts over many cross edges."""

    class Params(PatternParams):
        sources: CountRange = Field(
            (2, 5), description="paying accounts per case; AMLSim's typologies sample uses 5 "
            "accounts in all (paramFiles/typologies/alertPatterns.csv)")
        sinks: CountRange = Field((2, 5), description="receiving accounts per case (as above)")
        density: float = Field(
            0.6, ge=0, le=1, description="chance that a source pays a given sink; every account "
            "keeps at least one edge (assumption)")

    def shape(self, rng, n):
        p = self.params
        m, k = draw(rng, p.sources, n), draw(rng, p.sinks, n)
        case, e = ragged(m * k)
        i, j = e // k[case], e % k[case]
        keep = (rng.random(e.size) < p.density) | (j == i % k[case]) | (i == j % m[case])
        case, i, j = case[keep], i[keep], j[keep]
        amount = totals(rng, n, p.amount_median, p.amount_sigma)[case] * shares(rng, case, n)
        role = slot_roles(m + k, lambda c, s: np.where(s < m[c], "source", "sink"))
        return Shape.concat(m + k, role, [{"case": case, "src": i, "dst": m[case] + j,
                                           "step": np.zeros_like(i), "amount": amount}])
