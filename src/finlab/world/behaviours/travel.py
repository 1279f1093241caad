"""Holidays abroad: a travel booking, then card-free cash withdrawals in the destination."""

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
from finlab.world.streams import Streams


@BEHAVIOURS.register("travel")
class Travel(Behaviour):
    """Some persons book a trip and, weeks later, withdraw cash at banks of another country."""

    class Params(StrictModel):
        traveller_share: float = Field(0.04, ge=0, le=1, description="share taking a trip abroad")
        booking_median: float = Field(600.0, gt=0)
        trip_days: int = Field(10, ge=1, le=90)
        withdrawals_per_day: float = Field(0.5, ge=0, le=10)
        withdrawal_median: float = Field(120.0, gt=0)

    def plan(self, world, rng):
        p = self.params
        agencies = world.merchants.get("travel", np.zeros(0, np.int64))
        if agencies.size == 0 or world.n_countries < 2:
            return []
        days = world.scenario.period.days
        who = sample_persons(world, rng, p.traveller_share)
        agency = pick_targets(rng, world.party_country[who], agencies, world.party_country[agencies])
        src = world.main_account[who]
        trip = rng.integers(-20, days, who.size)
        booking = Streams.build(
            rng, src=src, dst=world.main_account[agency], rate=1.0, start_day=trip - 30,
            end_day=trip - 29, median=p.booking_median * price_level(world, who), sigma=0.5,
            channel=channel("card"), hours=hours("evening"), weekdays=weekdays("all"),
        )
        # destination: any other country, weighted by its banks
        home = world.party_country[who]
        dest = (home + rng.integers(1, world.n_countries, who.size)) % world.n_countries
        bank = pick_targets(rng, dest, np.arange(world.bank_id.size), world.bank_country)
        withdrawals = Streams.build(
            rng, src=src, dst=world.bank_cash_account[bank], rate=p.withdrawals_per_day,
            start_day=trip, end_day=trip + p.trip_days,
            median=p.withdrawal_median * price_level(world, who), sigma=0.5, even=True,
            channel=channel("cash"), hours=hours("shopping"), weekdays=weekdays("all"),
        )
        return [booking, withdrawals]
