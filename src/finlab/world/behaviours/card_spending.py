"""Card spending at groceries and shops, with a daily and weekly rhythm in local time."""

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
    price_level,
    weekdays,
)
from finlab.world.streams import Streams


@BEHAVIOURS.register("card_spending")
class CardSpending(Behaviour):
    """Each person shops at a few favourite stores; heavy spenders shop far more often."""

    class Params(StrictModel):
        payments_per_day: float = Field(0.45, ge=0, le=50, description="mean per person")
        stores_per_person: float = Field(4.0, ge=1, le=50)
        grocery_share: float = Field(0.6, ge=0, le=1)
        grocery_median: float = Field(32.0, gt=0)
        retail_median: float = Field(55.0, gt=0)

    def plan(self, world, rng):
        p = self.params
        empty = np.zeros(0, np.int64)
        out = []
        payers, k = contacts(rng, p.stores_per_person, world.persons)
        grocery = rng.random(payers.size) < p.grocery_share
        for is_grocery, cat, median in ((True, "groceries", p.grocery_median),
                                        (False, "retail", p.retail_median)):
            stores = world.merchants.get(cat, empty)
            who = payers[grocery == is_grocery]
            shop = pick_targets(rng, world.party_country[who], stores, world.party_country[stores])
            ok = shop >= 0
            who, shop = who[ok], shop[ok]
            src = world.main_account[who]
            per_stream = p.payments_per_day / np.repeat(k, k)[grocery == is_grocery][ok]
            out.append(Streams.build(
                rng, src=src, dst=world.main_account[shop],
                rate=per_stream * world.activity[src],
                median=median * price_level(world, who) * rng.lognormal(0, 0.3, who.size),
                sigma=0.8, channel=channel("card"), hours=hours("shopping"),
                weekdays=weekdays("shopping"),
            ))
        return out
