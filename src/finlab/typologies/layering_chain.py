"""Layering chain: money hops k times along a random walk over a small pool of accounts."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.typologies.base import TYPOLOGIES
from finlab.typologies.patterns import (
    CountRange,
    PatternParams,
    PatternTypology,
    Pool,
    Shape,
    decay,
    draw,
    ragged,
    totals,
)


@TYPOLOGIES.register("layering_chain")
class LayeringChain(PatternTypology):
    """Money hops from account to account along a random walk, losing a fee at each hop."""

    class Params(PatternParams):
        hops: CountRange = Field(
            (3, 8), description="payments in the walk (AMLworld RANDOM: 'Max N hops')")
        pool: Pool = Field(
            (4, 8), description="accounts the walk may visit; each hop goes to another account "
            "of the pool, so an account can be visited again (assumption)")

    def shape(self, rng, n):
        p = self.params
        m, h = draw(rng, p.pool, n), draw(rng, p.hops, n)
        case, t = ragged(h)
        cum = np.cumsum(rng.integers(1, m[case]))  # never to the account it is on
        first = np.cumsum(h) - h
        after = (cum - np.r_[0, cum][first][case]) % m[case]
        before = np.where(t == 0, 0, np.roll(after, 1))
        role = np.full(int(m.sum()), "intermediary", dtype=object)
        start = np.cumsum(m) - m
        role[start + after[first + h - 1]] = "sink"
        role[start] = "source"
        amount = decay(totals(rng, n, p.amount_median, p.amount_sigma)[case], t, p.fee)
        return Shape.concat(m, role, [{"case": case, "src": before, "dst": after, "step": t,
                                       "amount": amount}])
