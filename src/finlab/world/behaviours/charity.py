"""Charity donations: monthly standing orders by some, occasional gifts by others."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.registry import StrictModel
from finlab.world.behaviours.base import (
    BEHAVIOURS,
    Behaviour,
    channel,
    hours,
    pick_targets,
    price_level,
    sample_persons,
    weekdays,
)
from finlab.world.streams import MONTHLY, POISSON, Streams


@BEHAVIOURS.register("charity")
class Charity(Behaviour):
    """Round donations to charities, mostly domestic, some to international aid abroad."""

    look_alike_side = "dst"  # many donors paying one charity look like fan-in

    class Params(StrictModel):
        monthly_share: float = Field(0.12, ge=0, le=1)
        occasional_share: float = Field(0.2, ge=0, le=1)
        median: float = Field(25.0, gt=0)

    def plan(self, world, rng):
        p = self.params
        charities = world.merchants.get("charity", np.zeros(0, np.int64))
        if charities.size == 0:
            return []
        out = []
        for share, schedule, rate, factor in ((p.monthly_share, MONTHLY, 0.0, 1.0),
                                              (p.occasional_share, POISSON, 0.006, 2.0)):
            donors = sample_persons(world, rng, share)
            target = pick_targets(rng, world.party_country[donors], charities,
                                  world.party_country[charities],
                                  domestic=bool(rng.random() < 0.9))
            out.append(Streams.build(
                rng, src=world.main_account[donors], dst=world.main_account[target],
                schedule=schedule, rate=rate, day_of_month=rng.integers(1, 29, donors.size),
                jitter_days=1, median=p.median * factor * price_level(world, donors)
                * rng.lognormal(0, 0.5, donors.size), sigma=0.3 * (schedule == POISSON),
                even=True, channel=channel("transfer"),
                reference_pool=world.vocab.codes(["donation", "gift", "", "monthly donation"]),
                hours=hours("personal"), weekdays=weekdays("all"),
                label=world.labels.code("decoy:charity"),
            ))
        return out
