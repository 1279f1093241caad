"""Cash: persons withdraw at their bank's cash machines; shops deposit their takings."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.registry import StrictModel
from finlab.world.behaviours.base import (
    BEHAVIOURS,
    Behaviour,
    channel,
    hours,
    price_level,
    weekdays,
)
from finlab.world.streams import Streams

CASH_SECTORS = ("groceries", "retail", "property")


@BEHAVIOURS.register("cash")
class Cash(Behaviour):
    """Withdrawals in round amounts by persons; irregular cash deposits by shops."""

    class Params(StrictModel):
        withdrawals_per_day: float = Field(0.06, ge=0, le=10)
        withdrawal_median: float = Field(90.0, gt=0)
        deposits_per_day: float = Field(0.15, ge=0, le=10)
        deposit_median: float = Field(700.0, gt=0)

    def plan(self, world, rng):
        p = self.params
        persons = world.persons
        src = world.main_account[persons]
        bank = world.acc_bank[src]
        withdrawals = Streams.build(
            rng, src=src, dst=world.bank_cash_account[bank],
            rate=p.withdrawals_per_day * world.activity[src],
            median=p.withdrawal_median * price_level(world, persons) * rng.lognormal(0, 0.4, src.size),
            sigma=0.6, even=True, channel=channel("cash"), hours=hours("shopping"),
            weekdays=weekdays("shopping"),
        )
        shops = np.flatnonzero(np.isin(world.party_sector, CASH_SECTORS))
        dst = world.main_account[shops]
        deposits = Streams.build(
            rng, src=world.bank_cash_account[world.acc_bank[dst]], dst=dst,
            rate=p.deposits_per_day * world.activity[dst],
            median=p.deposit_median * price_level(world, shops) * rng.lognormal(0, 0.6, shops.size),
            sigma=0.7, channel=channel("cash"), reference=world.vocab.code("cash deposit"),
            hours=hours("office"), weekdays=weekdays("workdays"),
        )
        return [withdrawals, deposits]
