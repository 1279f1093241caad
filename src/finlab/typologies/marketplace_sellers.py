"""Look-alike: an online-marketplace seller paid small sums by many unrelated buyers.

A hard negative for fan_in and for the shared facilitator of ocse_payments (CS05): many senders
and small amounts, but mostly domestic buyers, one or two purchases each, daytime and evening
payments with order references. Never suspicious.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.typologies.base import TYPOLOGIES, Typology, local_time, make_events
from finlab.typologies.patterns import (
    CountRange,
    RangeParams,
    decoy_cases,
    draw,
    ragged,
    references,
)
from finlab.world.behaviours.base import hours, payer_account, price_level, wallet_channel
from finlab.world.rhythm import sample_seconds_of_day


@TYPOLOGIES.register("marketplace_sellers")
class MarketplaceSellers(Typology):
    """Benign look-alike of fan-in: a seller paid small sums by many unrelated buyers."""

    look_alike = True

    class Params(RangeParams):
        buyers: CountRange = Field(
            (10, 40), description="buyers per seller over the period: more than the >= 3 "
            "unrelated senders of CS05")
        purchases: CountRange = Field((1, 2), description="purchases per buyer")
        amount_median: float = Field(
            35.0, gt=0, description="EUR at price level 1, log-normal: the small sums of CS02")
        amount_sigma: float = Field(0.7, ge=0, le=3, description="log-normal spread")
        domestic_share: float = Field(
            0.9, ge=0, le=1, description="buyers living in the seller's country (assumption)")
        app_share: float = Field(
            0.6, ge=0, le=1, description="buyers paying by payment app when they hold one")
        references: list[str] = Field(
            ["order", "item", "shipping", "jacket", "bike", "books", "thanks", ""],
            description="payment references ('' for none)")

    def plan(self, world, rng, case_ids):
        p = self.params
        persons = world.persons
        seller = rng.choice(persons, size=case_ids.size, replace=False)
        s, _ = ragged(draw(rng, p.buyers, seller.size))

        # buyers: persons of the seller's country (or anyone), never the seller
        buyer = persons[rng.integers(0, persons.size, s.size)]
        country = world.party_country
        home = rng.random(s.size) < p.domestic_share
        for c in np.unique(country[seller]):
            rows = np.flatnonzero(home & (country[seller[s]] == c))
            local = persons[country[persons] == c]
            buyer[rows] = local[rng.integers(0, local.size, rows.size)]
        same = buyer == seller[s]
        buyer[same] = persons[(np.searchsorted(persons, buyer[same]) + 1) % persons.size]

        b, _ = ragged(draw(rng, p.purchases, s.size))
        src = payer_account(world, buyer, rng.random(buyer.size) < p.app_share,
                            wallet_kinds=("payment_app",))[b]
        day = rng.integers(0, world.scenario.period.days, b.size)
        seconds = sample_seconds_of_day(rng, np.full(b.size, hours("evening")))
        ts = local_time(world, src, day, seconds)
        amount = p.amount_median * price_level(world, seller[s[b]]) * rng.lognormal(
            0, p.amount_sigma, b.size)
        dst = world.main_account[seller]
        events = make_events(
            world, ts=ts, src=src, dst=dst[s[b]], amount_base=amount,
            channel=wallet_channel(world, src), case_id=-1, label=world.labels.code(self.label),
            reference=references(world, rng, p.references, b.size),
        )
        return decoy_cases(self, world, events, dst)
