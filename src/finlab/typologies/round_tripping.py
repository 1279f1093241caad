"""Round-tripping: money leaves for a foreign account and comes back from another foreign one."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.typologies.base import TYPOLOGIES, country_indices
from finlab.typologies.patterns import (
    Hours,
    PatternParams,
    PatternTypology,
    Shape,
    decay,
    draw_accounts,
    population_accounts,
    totals,
)


@TYPOLOGIES.register("round_tripping")
class RoundTripping(PatternTypology):
    """Money leaves for a foreign account and returns, as 'investment', from another one."""

    class Params(PatternParams):
        amount_median: float = Field(
            50_000.0, gt=0,
            description="EUR, median of the money sent round, log-normal (assumption)")
        havens: list[str] = Field(
            ["AE", "CY", "HK", "SG", "PA", "VG", "MT"],
            description="preferred countries of the two foreign accounts (financial centres); any "
            "country other than the source's when none of them is in the scenario (assumption)")
        delay_hours: Hours = Field(
            (24.0, 120.0), description="active hours between the legs (assumption)")
        references: list[str] = Field(
            ["investment", "loan", "consulting fee", "capital injection", "invoice"],
            description="payment references, one drawn per payment")

    def shape(self, rng, n):
        p = self.params
        case, step = np.repeat(np.arange(n), 3), np.tile(np.arange(3), n)
        amount = decay(totals(rng, n, p.amount_median, p.amount_sigma)[case], step, p.fee)
        role = np.tile(np.array(["source", "intermediary", "intermediary"], dtype=object), n)
        return Shape.concat(np.full(n, 3), role, [{"case": case, "src": step, "dst": (step + 1) % 3,
                                                   "step": step, "amount": amount}])

    def accounts(self, world, rng, shape):
        """Slot 0 anywhere; slots 1 and 2 in other countries than slot 0 (havens when present)."""
        n = shape.sizes.size
        source = draw_accounts(world, rng, n, what=self.name)
        country = world.acc_country
        pool = population_accounts(world)
        pool = pool[~np.isin(pool, source)]
        havens = country_indices(world, self.params.havens)
        out = np.empty((n, 3), np.int64)
        out[:, 0] = source
        for c in np.unique(country[source]):
            rows = np.flatnonzero(country[source] == c)
            foreign = pool[country[pool] != c]
            preferred = foreign[np.isin(country[foreign], havens)]
            options = preferred if preferred.size >= 2 * rows.size else foreign
            pick = draw_accounts(world, rng, 2 * rows.size, pool=options, what=self.name)
            out[rows, 1:] = pick.reshape(-1, 2)
            pool = pool[~np.isin(pool, pick)]
        return out.ravel()
