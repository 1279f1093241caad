"""Look-alike: small shops depositing their takings in cash, regularly, just below the threshold.

A hard negative for structuring: the same amounts and channel, but a business account, a steady
weekly rhythm over the whole period, and no transfer out afterwards. Never suspicious.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.errors import InputError
from finlab.typologies.base import TYPOLOGIES, Typology, local_time, make_events
from finlab.typologies.patterns import CountRange, Money, RangeParams, decoy_cases
from finlab.world.behaviours.base import channel, hours
from finlab.world.rhythm import sample_seconds_of_day


@TYPOLOGIES.register("cash_businesses")
class CashBusinesses(Typology):
    """Benign look-alike of structuring: shops banking cash weekly, just under the threshold."""

    look_alike = True

    class Params(RangeParams):
        sectors: list[str] = Field(
            ["groceries", "retail"], description="merchant categories of the depositing shops; "
            "ordinary businesses when none of them exists")
        deposit_amount: Money = Field(
            (8_000.0, 9_900.0), description="EUR, each deposit uniform: the range of structuring")
        per_week: CountRange = Field(
            (1, 3), description="deposits a week, on the shop's fixed workdays (assumption)")
        skip_share: float = Field(
            0.1, ge=0, le=1, description="share of regular deposits skipped (slow weeks)")

    def plan(self, world, rng, case_ids):
        p = self.params
        n = case_ids.size
        shops = np.concatenate([world.merchants.get(s, np.zeros(0, np.int64)) for s in p.sectors])
        if shops.size < n:
            shops = np.r_[shops, world.employers]
        acc = world.main_account[shops.astype(np.int64)]
        acc = acc[acc >= 0]
        if acc.size < n:
            raise InputError(
                f"typologies: cash_businesses needs {n} businesses; there are {acc.size}")
        biz = rng.choice(acc, size=n, replace=False)

        # fixed workdays per shop (Monday = 0), every week of the period
        k = np.minimum(rng.integers(p.per_week[0], p.per_week[1] + 1, n), 5)
        rank = rng.random((n, 5)).argsort(axis=1).argsort(axis=1)
        shop, weekday = np.nonzero(rank < k[:, None])
        days = world.scenario.period.days
        weeks = days // 7 + 2
        shop, weekday = np.repeat(shop, weeks), np.repeat(weekday, weeks)
        week = np.tile(np.arange(weeks), shop.size // weeks)
        day = 7 * (week - 1) + (weekday - world.scenario.period.start.weekday()) % 7
        keep = (day >= 0) & (day < days) & (rng.random(day.size) >= p.skip_share)
        shop, day = shop[keep], day[keep]
        dst = biz[shop]
        seconds = sample_seconds_of_day(rng, np.full(day.size, hours("office")))
        ts = local_time(world, dst, day, seconds)
        events = make_events(
            world, ts=ts, src=world.bank_cash_account[world.acc_bank[dst]], dst=dst,
            amount_base=rng.uniform(*p.deposit_amount, day.size), channel=channel("cash"),
            case_id=-1, label=world.labels.code(self.label),
            reference=world.vocab.code("cash deposit"),
        )
        return decoy_cases(self, world, events, biz)
