"""Subscriptions: software and VPN, foreign adult-content platforms and webcam sites, billed by card.

Adult-content and webcam payments are small, recurring, abroad and at night: a look-alike of the
suspicious flows on the features an analyst tries first.
"""

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
    sample_persons,
    weekdays,
)
from finlab.world.streams import MONTHLY, POISSON, Streams


class Plan(StrictModel):
    share: float = Field(ge=0, le=1, description="share of persons subscribed")
    price: float = Field(gt=0, description="monthly price in the base currency")
    extras_per_day: float = Field(0.0, ge=0, le=10, description="tips or top-ups on top")


@BEHAVIOURS.register("subscriptions")
class Subscriptions(Behaviour):
    """Monthly fixed charges per category; adult-content and webcam users also pay tips at night."""

    class Params(StrictModel):
        software_vpn: Plan = Plan(share=0.25, price=8.0)
        adult_content: Plan = Plan(share=0.06, price=15.0, extras_per_day=0.03)
        webcam: Plan = Plan(share=0.02, price=25.0, extras_per_day=0.08)

    NIGHT = ("adult_content", "webcam")

    def plan(self, world, rng):
        out = []
        for cat in ("software_vpn", "adult_content", "webcam"):
            plan: Plan = getattr(self.params, cat)
            merchants = world.merchants.get(cat, np.zeros(0, np.int64))
            if merchants.size == 0:
                continue
            who = sample_persons(world, rng, plan.share)
            merchant = pick_targets(rng, world.party_country[who], merchants,
                                    world.party_country[merchants], domestic=False)
            src = world.main_account[who]
            price = plan.price * rng.choice([0.7, 1.0, 1.0, 1.5, 2.0], size=who.size)
            night = cat in self.NIGHT
            common = {"src": src, "dst": world.main_account[merchant], "channel": channel("card"),
                      "hours": hours("night" if night else "evening"), "weekdays": weekdays("all"),
                      "label": world.labels.code("decoy:adult_content") if night else 0}
            out.append(Streams.build(rng, schedule=MONTHLY, day_of_month=rng.integers(1, 29, who.size),
                                     median=price, **common))
            if plan.extras_per_day > 0:
                out.append(Streams.build(rng, schedule=POISSON,
                                         rate=plan.extras_per_day * world.activity[src],
                                         median=price * 1.2, sigma=0.6,
                                         even=rng.random(who.size) < 0.5, **common))
        return out
