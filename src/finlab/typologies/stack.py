"""Stack: layers of accounts, each paying every account of the next layer (AMLworld STACK)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.typologies.base import TYPOLOGIES
from finlab.typologies.patterns import (
    CountRange,
    PatternParams,
    PatternTypology,
    Shape,
    decay,
    draw,
    ragged,
    shares,
    slot_roles,
    totals,
)


@TYPOLOGIES.register("stack")
class Stack(PatternTypology):
    """Bipartite blocks stacked: each layer of accounts pays every account of the next layer."""

    class Params(PatternParams):
        layers: int = Field(
            3, ge=2, le=20, description="layers of accounts (2 is one complete bipartite block; "
            "AMLworld's STACK stacks two)")
        width: CountRange = Field(
            (2, 4), description="accounts per layer; AMLSim's typologies sample uses 5 accounts "
            "(paramFiles/typologies/alertPatterns.csv)")

    def shape(self, rng, n):
        p = self.params
        w = draw(rng, p.width, n)
        case, e = ragged((p.layers - 1) * w * w)
        wc = w[case]
        layer, i, j = e // (wc * wc), (e // wc) % wc, e % wc
        share = shares(rng, case * p.layers + layer, n * p.layers)
        amount = decay(totals(rng, n, p.amount_median, p.amount_sigma)[case] * share, layer, p.fee)
        role = slot_roles(p.layers * w, lambda c, s: np.select(
            [s < w[c], s >= (p.layers - 1) * w[c]], ["source", "sink"], "intermediary"))
        return Shape.concat(p.layers * w, role, [{
            "case": case, "src": layer * wc + i, "dst": (layer + 1) * wc + j, "step": layer,
            "amount": amount,
        }])
