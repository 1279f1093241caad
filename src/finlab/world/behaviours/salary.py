"""Salaries and pensions: employers pay their staff once a month (payroll), pension funds the retired."""

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
from finlab.world.streams import MONTHLY, Streams


@BEHAVIOURS.register("salary")
class Salary(Behaviour):
    """Monthly payroll from an employer to each working person; pensions for those over 67."""

    class Params(StrictModel):
        employment_rate: float = Field(0.8, ge=0, le=1)
        median: float = Field(2800.0, gt=0, description="monthly pay in the base currency")
        spread: float = Field(0.45, ge=0, le=2, description="log-normal spread between persons")
        pension_median: float = Field(1700.0, gt=0)
        payday: int = Field(25, ge=1, le=28)

    def plan(self, world, rng):
        p = self.params
        persons = world.persons
        retired = world.age >= 67
        working = ~retired & (rng.random(persons.size) < p.employment_rate)
        payees = np.r_[persons[working], persons[retired]]
        is_pension = np.r_[np.zeros(working.sum(), bool), np.ones(retired.sum(), bool)]
        employer = pick_targets(
            rng, world.party_country[payees], world.employers,
            world.party_country[world.employers], popularity=1.1,
        )
        ok = employer >= 0
        payees, employer, is_pension = payees[ok], employer[ok], is_pension[ok]
        base = np.where(is_pension, p.pension_median, p.median) * price_level(world, payees)
        median = base * rng.lognormal(0, p.spread, payees.size)
        ref = world.vocab.codes(["salary", "pension"])
        return [
            Streams.build(
                rng, src=world.main_account[employer], dst=world.main_account[payees],
                schedule=MONTHLY, day_of_month=p.payday, jitter_days=1, median=median,
                sigma=0.03, channel=channel("transfer"), reference=np.where(is_pension, ref[1], ref[0]),
                hours=hours("batch"), weekdays=weekdays("workdays"),
                label=world.labels.code("decoy:payroll"),
            )
        ]
