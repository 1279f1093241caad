"""Rent to letting companies and utility bills, paid monthly by bank transfer."""

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
from finlab.world.streams import MONTHLY, Streams


@BEHAVIOURS.register("rent_bills")
class RentBills(Behaviour):
    """Renters pay rent on the first days of the month; most persons pay one to three bills."""

    class Params(StrictModel):
        renter_share: float = Field(0.5, ge=0, le=1)
        rent_median: float = Field(950.0, gt=0)
        bills_per_person: float = Field(1.8, ge=0, le=10)
        bill_median: float = Field(70.0, gt=0)

    def plan(self, world, rng):
        p = self.params
        out = []
        landlords = world.merchants.get("property", np.zeros(0, np.int64))
        renters = sample_persons(world, rng, p.renter_share)
        landlord = pick_targets(rng, world.party_country[renters], landlords,
                                world.party_country[landlords], popularity=0.7)
        ok = landlord >= 0
        renters, landlord = renters[ok], landlord[ok]
        out.append(Streams.build(
            rng, src=world.main_account[renters], dst=world.main_account[landlord], schedule=MONTHLY,
            day_of_month=1, jitter_days=3,
            median=p.rent_median * price_level(world, renters) * rng.lognormal(0, 0.3, renters.size),
            even=True, channel=channel("transfer"), reference=world.vocab.code("rent"),
            hours=hours("office"), weekdays=weekdays("all"),
        ))
        utilities = world.merchants.get("utilities", np.zeros(0, np.int64))
        n_bills = rng.poisson(p.bills_per_person, world.persons.size)
        payers = np.repeat(world.persons, n_bills)
        utility = pick_targets(rng, world.party_country[payers], utilities,
                               world.party_country[utilities], popularity=0.9)
        ok = utility >= 0
        payers, utility = payers[ok], utility[ok]
        out.append(Streams.build(
            rng, src=world.main_account[payers], dst=world.main_account[utility], schedule=MONTHLY,
            day_of_month=rng.integers(1, 29, payers.size), jitter_days=2,
            median=p.bill_median * price_level(world, payers) * rng.lognormal(0, 0.5, payers.size),
            sigma=0.15, channel=channel("transfer"),
            reference_pool=world.vocab.codes(["invoice", "bill", "electricity", "phone", "internet"]),
            hours=hours("office"), weekdays=weekdays("workdays"),
        ))
        return out
