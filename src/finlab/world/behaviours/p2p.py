"""Person-to-person transfers over a social graph of communities (friends, family, colleagues)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.registry import StrictModel
from finlab.world.behaviours.base import (
    BEHAVIOURS,
    Behaviour,
    contacts,
    hours,
    payer_account,
    price_level,
    wallet_channel,
    weekdays,
)
from finlab.world.streams import Streams

REFERENCES = ["", "", "", "thanks", "dinner", "beers", "tickets", "rent share", "birthday", "gift",
              "loan", "taxi", "groceries", "holiday"]


def social_graph(world, rng, *, community_size: float, contacts_mean: float,
                 inside_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Directed contact pairs (party positions): mostly inside small communities of one country."""
    persons = world.persons
    country = world.party_country[persons]
    order = np.lexsort((rng.random(persons.size), country))
    # communities: consecutive runs of the shuffled persons of one country
    rank_in_country = np.arange(persons.size) - np.searchsorted(country[order], country[order])
    community = np.empty(persons.size, np.int64)
    community[order] = country[order] * 10**9 + rank_in_country // max(int(community_size), 2)
    src, _ = contacts(rng, contacts_mean, np.arange(persons.size))
    # pick a member of the same community, or anyone in the same country
    by_comm = np.argsort(community, kind="stable")
    comm_sorted = community[by_comm]
    lo = np.searchsorted(comm_sorted, community[src], side="left")
    hi = np.searchsorted(comm_sorted, community[src], side="right")
    inside = by_comm[lo + np.floor(rng.random(src.size) * (hi - lo)).astype(np.int64)]
    by_country = np.argsort(country, kind="stable")
    c_sorted = country[by_country]
    clo = np.searchsorted(c_sorted, country[src], side="left")
    chi = np.searchsorted(c_sorted, country[src], side="right")
    anywhere = by_country[clo + np.floor(rng.random(src.size) * (chi - clo)).astype(np.int64)]
    dst = np.where(rng.random(src.size) < inside_share, inside, anywhere)
    keep = dst != src
    return persons[src[keep]], persons[dst[keep]]


@BEHAVIOURS.register("p2p")
class PersonToPerson(Behaviour):
    """Small transfers between friends and family; payment-app users send through their app."""

    class Params(StrictModel):
        community_size: float = Field(40, ge=2)
        contacts_mean: float = Field(4.0, ge=1, le=100)
        inside_share: float = Field(0.85, ge=0, le=1)
        payments_per_contact_per_day: float = Field(0.02, ge=0, le=10)
        median: float = Field(28.0, gt=0)
        even_share: float = Field(0.45, ge=0, le=1)

    def plan(self, world, rng):
        p = self.params
        src_p, dst_p = social_graph(world, rng, community_size=p.community_size,
                                    contacts_mean=p.contacts_mean, inside_share=p.inside_share)
        app = ("payment_app",)
        src = payer_account(world, src_p, rng.random(src_p.size) < 0.7, wallet_kinds=app)
        dst = payer_account(world, dst_p, rng.random(dst_p.size) < 0.5, wallet_kinds=app)
        return [Streams.build(
            rng, src=src, dst=dst, rate=p.payments_per_contact_per_day * world.activity[src],
            median=p.median * price_level(world, src_p) * rng.lognormal(0, 0.5, src.size), sigma=0.9,
            even=rng.random(src.size) < p.even_share, channel=wallet_channel(world, src),
            reference_pool=world.vocab.codes(REFERENCES), hours=hours("personal"),
            weekdays=weekdays("leisure"),
        )]
