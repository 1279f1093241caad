"""Look-alike: romance-fraud victims paying a new foreign individual, drawing down their savings.

A hard negative for ocse_payments (indicators.md, benign look-alikes): payments abroad to an
individual, but one beneficiary, a few payments over weeks, amounts rising to thousands, and
savings moved to the paying account first. Never suspicious in the labels (case_id null).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.errors import InputError
from finlab.typologies.base import TYPOLOGIES, Typology, make_events
from finlab.typologies.patterns import (
    CountRange,
    Money,
    RangeParams,
    decoy_cases,
    draw,
    lay_out,
    ragged,
    references,
    window_seconds,
)
from finlab.world.behaviours.base import channel, payer_account, wallet_channel
from finlab.world.streams import TxnBlock

Days = tuple[float, float]


@TYPOLOGIES.register("romance_victims")
class RomanceVictims(Typology):
    """Benign look-alike: a person pays a new foreign contact rising sums, savings drawn down."""

    look_alike = True

    class Params(RangeParams):
        older_from: int = Field(
            50, ge=18, le=120, description="persons from this age on are three times as likely "
            "to be victims (assumption: older adults lose most to romance fraud)")
        payments: CountRange = Field((3, 8), description="payments per victim (assumption)")
        gap_days: Days = Field(
            (3.0, 14.0), description="days between payments: over weeks (indicators.md)")
        first_amount: Money = Field((100.0, 500.0), description="EUR, first payment")
        last_amount: Money = Field(
            (2_000.0, 10_000.0), description="EUR, last payment: amounts rising to thousands "
            "(indicators.md, benign look-alikes)")
        remittance_share: float = Field(
            0.2, ge=0, le=1, description="victims paying through a remittance wallet when held")
        references: list[str] = Field(
            ["", "", "for you", "ticket", "visa", "hospital", "customs fee", "loan"],
            description="payment references ('' for none)")

    def plan(self, world, rng, case_ids):
        p = self.params
        n = case_ids.size
        persons = world.persons
        w = np.where(world.age >= p.older_from, 3.0, 1.0)
        victim = rng.choice(persons, size=n, replace=False, p=w / w.sum())
        contact = self._contacts(world, rng, victim)
        pay_acc = payer_account(world, victim, rng.random(n) < p.remittance_share,
                                wallet_kinds=("money_services",))

        k = draw(rng, p.payments, n)
        v, i = ragged(k)
        gap = np.where(i == 0, 0.5, rng.uniform(*p.gap_days, v.size))
        first = np.cumsum(k) - k
        cum = np.cumsum(gap)
        offset = (cum - np.r_[0, cum][first][v]) * window_seconds("personal")
        ts = lay_out(world, rng, v, offset, pay_acc, "personal")
        a0 = rng.uniform(*p.first_amount, n)
        a1 = np.maximum(rng.uniform(*p.last_amount, n), a0)
        amount = a0[v] * (a1[v] / a0[v]) ** (i / np.maximum(k[v] - 1, 1))
        label = world.labels.code(self.label)
        payments = make_events(
            world, ts=ts, src=pay_acc[v], dst=world.main_account[contact[v]], amount_base=amount,
            even=True, channel=wallet_channel(world, pay_acc)[v], case_id=-1, label=label,
            reference=references(world, rng, p.references, v.size),
        )
        return decoy_cases(self, world, TxnBlock.concat(
            [payments, self._drawdowns(world, rng, victim, pay_acc, v, ts, amount)]), pay_acc)

    def _contacts(self, world, rng, victim: np.ndarray) -> np.ndarray:
        """One new foreign individual per victim: another country, another household."""
        out = np.empty(victim.size, np.int64)
        country, household = world.party_country, world.party_household
        taken = np.zeros(0, np.int64)
        for c in np.unique(country[victim]):
            rows = np.flatnonzero(country[victim] == c)
            pool = world.persons[(country[world.persons] != c)
                                 & ~np.isin(household[world.persons], household[victim[rows]])
                                 & ~np.isin(world.persons, np.r_[taken, victim])]
            if pool.size < rows.size:
                raise InputError("typologies: romance_victims needs persons abroad to pay")
            out[rows] = rng.choice(pool, size=rows.size, replace=False)
            taken = np.r_[taken, out[rows]]
        return out

    def _drawdowns(self, world, rng, victim, pay_acc, v, ts, amount) -> TxnBlock:
        """Victims with savings move a little more than each payment there, hours before."""
        savings = np.full(world.party_kind.size, -1, np.int64)
        kind = world.acc_kind == "savings"
        savings[world.acc_party[kind]] = np.flatnonzero(kind)
        has = np.flatnonzero(savings[victim[v]] >= 0)
        if has.size == 0:
            return TxnBlock.empty()
        when = np.maximum(ts[has] - rng.integers(3_600, 12 * 3_600, has.size), world.epoch())
        return make_events(
            world, ts=when, src=savings[victim[v[has]]], dst=pay_acc[v[has]],
            amount_base=amount[has] * rng.uniform(1.0, 1.2, has.size), even=True,
            channel=channel("transfer"), case_id=-1, label=0,
        )
