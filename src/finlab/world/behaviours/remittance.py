"""Family remittances across borders: the main look-alike of the suspicious flows.

Persons born abroad send money home to relatives (members of their household living in the
country of origin) around payday, mostly through remittance firms, in larger and steadier amounts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from finlab.registry import StrictModel
from finlab.world.behaviours.base import (
    BEHAVIOURS,
    Behaviour,
    hours,
    payer_account,
    price_level,
    wallet_channel,
    weekdays,
)
from finlab.world.streams import MONTHLY, POISSON, Streams

REFERENCES = ["family support", "for mom", "allowance", "support", "school fees", "tuition",
              "medical bills", "", "", "household", "for the kids", "padala"]


def relatives_abroad(world, rng, senders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sender, relative) pairs of party positions: a relative shares the household, lives abroad."""
    people = pd.DataFrame({
        "relative": world.persons,
        "household": world.party_household[world.persons],
        "rel_country": world.party_country[world.persons],
    })
    s = pd.DataFrame({
        "sender": senders,
        "household": world.party_household[senders],
        "country": world.party_country[senders],
        "origin": world.origin[senders],
    })
    pairs = s.merge(people, on="household")
    pairs = pairs[(pairs["rel_country"] != pairs["country"]) & (pairs["rel_country"] == pairs["origin"])]
    pairs = pairs.assign(order=rng.random(len(pairs))).sort_values(["sender", "order"])
    # one or two stable recipients per sender
    rank = pairs.groupby("sender").cumcount().to_numpy()
    two = rng.random(len(pairs)) < 0.25
    keep = (rank == 0) | ((rank == 1) & two)
    pairs = pairs[keep]
    return pairs["sender"].to_numpy(np.int64), pairs["relative"].to_numpy(np.int64)


@BEHAVIOURS.register("remittance")
class Remittance(Behaviour):
    """Monthly transfers home after payday, plus the odd extra payment for birthdays or emergencies."""

    class Params(StrictModel):
        sender_share: float = Field(0.8, ge=0, le=1, description="share of diaspora persons who send")
        median: float = Field(320.0, gt=0, description="USD 200-500 per the look-alike table")
        even_share: float = Field(0.6, ge=0, le=1)
        extra_per_day: float = Field(0.01, ge=0, le=1)

    def plan(self, world, rng):
        p = self.params
        diaspora = world.persons[world.origin >= 0]
        senders = diaspora[rng.random(diaspora.size) < p.sender_share]
        sender, relative = relatives_abroad(world, rng, senders)
        src = payer_account(world, sender, prefer_wallet=rng.random(sender.size) < 0.8)
        dst = payer_account(world, relative, prefer_wallet=rng.random(relative.size) < 0.3)
        median = p.median * np.sqrt(price_level(world, sender)) * rng.lognormal(0, 0.3, sender.size)
        common = {"src": src, "dst": dst, "even": rng.random(src.size) < p.even_share,
                  "channel": wallet_channel(world, src),
                  "reference_pool": world.vocab.codes(REFERENCES), "hours": hours("personal"),
                  "label": world.labels.code("decoy:family_remittance")}
        monthly = Streams.build(rng, schedule=MONTHLY, day_of_month=26, jitter_days=4, median=median,
                                sigma=0.12, weekdays=weekdays("all"), **common)
        extra = Streams.build(rng, schedule=POISSON, rate=p.extra_per_day, median=median * 0.5,
                              sigma=0.6, weekdays=weekdays("all"), **common)
        return [monthly, extra]
