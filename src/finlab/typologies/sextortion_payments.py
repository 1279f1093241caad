"""Financial sextortion: young victims pay an extortioner abroad in a short, rising burst.

The reverse flow of ocse_payments (FATF 2025 in docs/indicators.md): victims, often
teenagers, pay amounts that start under EUR 250 and rise to about EUR 1,500 within days, then stop.
One case is one extortioner (role collector) paid by a few victims (role victim).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.errors import InputError
from finlab.typologies.base import (
    TYPOLOGIES,
    Cases,
    Roles,
    Typology,
    country_indices,
    make_events,
    pick_persons,
)
from finlab.typologies.patterns import (
    CountRange,
    Money,
    RangeParams,
    draw,
    lay_out,
    ragged,
    references,
    window_seconds,
)
from finlab.world.behaviours.base import payer_account, wallet_channel

Days = tuple[float, float]


@TYPOLOGIES.register("sextortion_payments")
class SextortionPayments(Typology):
    """Young victims pay an extortioner abroad in a short burst of rising amounts, then stop."""

    class Params(RangeParams):
        sources: list[str] = Field(
            ["US", "GB", "CA", "AU", "NO", "SE", "DE", "NL"],
            description="victims' countries (the source countries of CS01)")
        destinations: dict[str, float] = Field(
            {"NG": 0.5, "CI": 0.2, "PH": 0.2, "GH": 0.1},
            description="extortioners' countries and weights (public FBI and NCMEC warnings "
            "2023-24 point to West Africa and South-East Asia); any high-risk country of the "
            "scenario when none of them is present")
        max_age: int = Field(
            29, ge=18, le=120, description="victims are at most this old: FATF 2025, often "
            "teenagers (the population's youngest are 18)")
        youth_scale: float = Field(
            4.0, gt=0, description="years: a victim is drawn with weight exp(-(age-18)/scale), "
            "so the youngest are drawn first")
        victims: CountRange = Field((1, 4), description="victims per extortioner (assumption)")
        payments: CountRange = Field(
            (2, 8), description="payments per victim, in one burst (FATF 2025, indicators.md)")
        burst_days: Days = Field(
            (1.0, 10.0), description="days from a victim's first to last payment: a short burst "
            "that stops abruptly (FATF 2025)")
        first_amount: Money = Field(
            (30.0, 249.0),
            description="EUR, first payment, uniform: starting under EUR 250 (FATF 2025)")
        last_amount: Money = Field(
            (500.0, 1_500.0), description="EUR, last and largest payment: rising up to about "
            "EUR 1,500 (FATF 2025)")
        wallet_share: float = Field(
            0.6, ge=0, le=1, description="victims paying from their payment-app or remittance "
            "wallet when they hold one (assumption)")
        references: list[str] = Field(["", "", "", "gift", "sent", "pls delete"],
                                      description="payment references ('' for none)")

    def plan(self, world, rng, case_ids):
        p = self.params
        n = case_ids.size
        collector = self._extortioners(world, rng, n)
        col_acc = payer_account(world, collector, rng.random(n) < 0.5)

        # victims: the youngest persons of the source countries, at least one per case
        sources = country_indices(world, p.sources)
        age = world.age
        ok = np.isin(world.party_country[world.persons], sources) & (age <= p.max_age)
        pool = world.persons[ok]
        if pool.size < n:
            raise InputError(f"typologies: sextortion_payments needs {n} persons aged at most "
                             f"{p.max_age} in {p.sources}; the scenario has {pool.size}")
        case, rank = ragged(draw(rng, p.victims, n))
        take = np.lexsort((case, rank))[: pool.size]  # every case's first victim comes first
        vcase = np.sort(case[take])
        w = np.exp(-(age[ok] - 18) / p.youth_scale)
        victim = rng.choice(pool, size=vcase.size, replace=False, p=w / w.sum())
        v_acc = payer_account(world, victim, rng.random(victim.size) < p.wallet_share)

        # each victim: a burst of payments rising geometrically, then nothing more
        k = draw(rng, p.payments, victim.size)
        v, i = ragged(k)
        u = rng.random(v.size)
        u = u[np.lexsort((u, v))]
        u[i == 0] = 0.0
        burst = rng.uniform(*p.burst_days, victim.size)
        offset = u * burst[v] * window_seconds("personal")
        ts = lay_out(world, rng, v, offset, v_acc, "personal")
        a0 = rng.uniform(*p.first_amount, victim.size)
        a1 = np.maximum(rng.uniform(*p.last_amount, victim.size), a0)
        frac = i / np.maximum(k[v] - 1, 1)
        amount = a0[v] * (a1[v] / a0[v]) ** frac
        events = make_events(
            world, ts=ts, src=v_acc[v], dst=col_acc[vcase[v]], amount_base=amount,
            channel=wallet_channel(world, v_acc)[v], case_id=case_ids[vcase[v]],
            label=world.labels.code(self.label),
            reference=references(world, rng, p.references, v.size),
        )
        roles = Roles.concat([Roles.of(v_acc, "victim", case_ids[vcase]),
                              Roles.of(col_acc, "collector", case_ids)])
        return Cases(self.label, case_ids, p.model_dump(mode="json"), events=events, roles=roles)

    def _extortioners(self, world, rng, n: int) -> np.ndarray:
        """One person per case in a destination country (by weight), distinct across cases."""
        p = self.params
        dests = [(world.country_index(c), w) for c, w in p.destinations.items()
                 if c in world.country_codes and w > 0]
        if not dests:
            risky = np.flatnonzero(world.country_attr("risk") == "high")
            dests = [(int(c), 1.0) for c in risky if world.country_codes[c] not in p.sources]
        if not dests:
            raise InputError("typologies: sextortion_payments needs a destination among "
                             f"{list(p.destinations)} or a high-risk country in the scenario")
        idx = np.array([d for d, _ in dests])
        wt = np.array([x for _, x in dests], np.float64)
        case_dest = idx[rng.choice(idx.size, size=n, p=wt / wt.sum())]
        out = np.empty(n, np.int64)
        for c in np.unique(case_dest):
            rows = np.flatnonzero(case_dest == c)
            people = pick_persons(world, rng, [int(c)], rows.size)
            if people.size < rows.size:
                raise InputError(f"typologies: too few persons in {world.country_codes[c]} for "
                                 f"{rows.size} sextortion_payments cases")
            out[rows] = people
        return out
