"""Business-to-business payments: each business pays a few suppliers on invoice, in office hours."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.registry import StrictModel
from finlab.world.behaviours.base import (
    BEHAVIOURS,
    Behaviour,
    channel,
    contacts,
    hours,
    pick_targets,
    price_level,
    weekdays,
)
from finlab.world.streams import Streams


@BEHAVIOURS.register("b2b")
class BusinessToBusiness(Behaviour):
    """Employers and merchants pay suppliers; a minority of suppliers sit abroad."""

    class Params(StrictModel):
        suppliers_mean: float = Field(4.0, ge=1, le=100)
        payments_per_supplier_per_day: float = Field(0.06, ge=0, le=10)
        median: float = Field(2400.0, gt=0)
        foreign_share: float = Field(0.1, ge=0, le=1)

    def plan(self, world, rng):
        p = self.params
        buyers = np.flatnonzero((world.party_kind == "business") & (world.party_sector != "financial"))
        payers, _ = contacts(rng, p.suppliers_mean, buyers)
        supplier = pick_targets(rng, world.party_country[payers], world.employers,
                                world.party_country[world.employers], popularity=0.8)
        abroad = rng.random(payers.size) < p.foreign_share
        supplier[abroad] = world.employers[rng.integers(0, world.employers.size, abroad.sum())]
        ok = (supplier >= 0) & (supplier != payers)
        payers, supplier = payers[ok], supplier[ok]
        src = world.main_account[payers]
        return [Streams.build(
            rng, src=src, dst=world.main_account[supplier],
            rate=p.payments_per_supplier_per_day * world.activity[src],
            median=p.median * price_level(world, payers) * rng.lognormal(0, 0.8, payers.size),
            sigma=0.6, channel=channel("transfer"),
            reference_pool=world.vocab.codes(["invoice", "inv", "services", "goods", "consulting fees",
                                              "order", "delivery", "fees"]),
            hours=hours("office"), weekdays=weekdays("workdays"),
        )]
