"""Crypto purchases at exchanges: round amounts, irregular, a small share of persons."""

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
    weekdays,
)
from finlab.world.streams import Streams


@BEHAVIOURS.register("crypto")
class CryptoPurchases(Behaviour):
    """Buying crypto-assets at an exchange, mostly younger persons, sometimes abroad."""

    class Params(StrictModel):
        share: float = Field(0.06, ge=0, le=1)
        payments_per_day: float = Field(0.03, ge=0, le=10)
        median: float = Field(150.0, gt=0)

    def plan(self, world, rng):
        p = self.params
        exchanges = world.merchants.get("crypto_exchange", np.zeros(0, np.int64))
        if exchanges.size == 0:
            return []
        young = (world.age < 40).astype(float)
        buyers = world.persons[rng.random(world.persons.size) < p.share * (0.5 + young)]
        exchange = pick_targets(rng, world.party_country[buyers], exchanges,
                                world.party_country[exchanges], domestic=False)
        src = world.main_account[buyers]
        return [Streams.build(
            rng, src=src, dst=world.main_account[exchange], rate=p.payments_per_day * world.activity[src],
            median=p.median * price_level(world, buyers), sigma=0.9, even=True,
            channel=channel("crypto"), hours=hours("evening"), weekdays=weekdays("all"),
        )]
