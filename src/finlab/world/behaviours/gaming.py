"""Online gaming top-ups and gift cards: frequent, small, round amounts in the evening."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.registry import StrictModel
from finlab.world.behaviours.base import (
    BEHAVIOURS,
    Behaviour,
    channel,
    contacts,
    hours,
    pick_targets,
    sample_persons,
    weekdays,
)
from finlab.world.streams import Streams


@BEHAVIOURS.register("gaming_giftcards")
class GamingGiftCards(Behaviour):
    """A share of persons buys game credit and gift cards, a few of them very often."""

    class Params(StrictModel):
        share: float = Field(0.2, ge=0, le=1)
        payments_per_day: float = Field(0.06, ge=0, le=10)
        median: float = Field(22.0, gt=0)

    def plan(self, world, rng):
        p = self.params
        merchants = world.merchants.get("gaming_giftcards", np.zeros(0, np.int64))
        if merchants.size == 0:
            return []
        players, k = contacts(rng, 1.5, sample_persons(world, rng, p.share))
        shop = pick_targets(rng, world.party_country[players], merchants,
                            world.party_country[merchants], domestic=False)
        src = world.main_account[players]
        return [Streams.build(
            rng, src=src, dst=world.main_account[shop],
            rate=p.payments_per_day / np.repeat(k, k) * world.activity[src] ** 1.5,
            median=p.median, sigma=0.7, even=True, channel=channel("card"),
            hours=hours("evening"), weekdays=weekdays("leisure"),
        )]
