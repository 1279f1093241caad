"""Payments for online child sexual exploitation (OCSE): small recurring transfers to facilitators.

One case is one facilitator network in a destination country, paid by many senders living in
source countries, at many banks. Every default below comes from the published indicators
CS01-CS13 (docs/indicators.md); the field descriptions cite them.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from finlab.errors import InputError
from finlab.typologies.base import (
    TYPOLOGIES,
    Cases,
    ParamsModel,
    Roles,
    Typology,
    country_indices,
    local_time,
    make_events,
    pick_persons,
    prevalence_trend,
    steady_spans,
)
from finlab.world.behaviours.base import (
    channel,
    hours,
    payer_account,
    pick_targets,
    wallet_channel,
    weekdays,
)
from finlab.world.rhythm import sample_seconds_of_day
from finlab.world.streams import POISSON, Streams, TxnBlock

COVER_WORDS = ["gift", "treat", "birthday", "invoice", "expenses", "fees", "school", "uniform",
               "medical", "accommodation", "family support", "education"]


@TYPOLOGIES.register("ocse_payments")
class OcsePayments(Typology):
    """Senders abroad pay facilitators small, recurring, night-time amounts that escalate."""

    class Params(ParamsModel):
        sources: list[str] = Field(
            ["NO", "SE", "US", "GB", "AU", "DE", "CA"], description="senders' countries (CS01)")
        destinations: dict[str, float] = Field(
            {"PH": 0.6, "TH": 0.1, "CO": 0.04, "DO": 0.03, "MX": 0.03, "GH": 0.1, "UA": 0.1},
            description="facilitators' countries and weights (CS01)")
        senders: tuple[int, int] = Field((5, 40), description="senders per facilitator (CS05)")
        beneficiaries: tuple[int, int] = Field(
            (1, 6), description="distinct beneficiaries per sender, without family link (CS04)")
        payments_per_month: tuple[float, float] = Field((2, 8), description="recurrence (CS03)")
        median_amount: float = Field(45.0, gt=0, description="EUR, log-normal (CS02)")
        amount_sigma: float = Field(0.55, ge=0, le=2, description="spread, 10-200 EUR (CS02)")
        even_share: float = Field(0.3, ge=0, le=1, description="share of even amounts (CS02)")
        night_share: float = Field(0.6, ge=0, le=1, description="22:00-06:00 local (CS06)")
        cover_reference_share: float = Field(0.4, ge=0, le=1, description="cover words (CS07)")
        escalation: float = Field(
            0.2, ge=0, le=2, description="log growth of amount and frequency per 30 days (CS08)")
        activity_sigma: float = Field(
            1.3, ge=0, le=3, description="heavy tail: a few senders make most payments (CS08)")
        remitter_share: float = Field(
            0.6, ge=0, le=1, description="payments through money services when held (CS09)")
        crypto_share: float = Field(0.05, ge=0, le=1, description="crypto or gift card (CS09)")
        co_purchase_share: float = Field(
            0.3, ge=0, le=1, description="senders buying VPN or webcam services (CS10)")
        travel_share: float = Field(
            0.1, ge=0, le=1, description="older senders travelling and drawing cash there (CS11)")
        third_party_share: float = Field(
            0.35, ge=0, le=1, description="facilitators receiving on a relative's account")
        forward_share: float = Field(
            0.6, ge=0, le=1, description="facilitators forwarding to an organiser (else cash out)")

    def plan(self, world, rng, case_ids):
        p = self.params
        n_cases = case_ids.size
        label = world.labels.code(self.label)
        days = world.scenario.period.days
        sources = country_indices(world, p.sources)
        dests = [(world.country_index(c), w) for c, w in p.destinations.items()
                 if c in world.country_codes]
        if not sources or not dests:
            raise InputError(
                "typologies: ocse_payments needs a source country among "
                f"{p.sources} and a destination among {list(p.destinations)} in the scenario")
        d_idx = np.array([d for d, _ in dests])
        d_w = np.array([w for _, w in dests], dtype=np.float64)
        case_dest = d_idx[rng.choice(d_idx.size, size=n_cases, p=d_w / d_w.sum())]

        # facilitators, their relatives' accounts, their organisers: persons of the destination
        used = np.zeros(0, np.int64)
        facilitator = np.empty(n_cases, np.int64)
        third = np.full(n_cases, -1, np.int64)
        organiser = np.full(n_cases, -1, np.int64)
        for c in np.unique(case_dest):
            rows = np.flatnonzero(case_dest == c)
            people = pick_persons(world, rng, [c], 3 * rows.size, exclude=used)
            if people.size < 3 * rows.size:
                raise InputError(f"typologies: too few persons in {world.country_codes[c]} for "
                                 f"{rows.size} ocse_payments cases")
            used = np.r_[used, people]
            facilitator[rows] = people[: rows.size]
            has_third = rng.random(rows.size) < p.third_party_share
            third[rows[has_third]] = people[rows.size: 2 * rows.size][has_third]
            fwd = rng.random(rows.size) < p.forward_share
            organiser[rows[fwd]] = people[2 * rows.size:][fwd]
        fac_acc = world.main_account[facilitator]
        third_acc = np.where(third >= 0, world.main_account[np.maximum(third, 0)], -1)

        # senders: persons of the source countries, skewed to middle-aged and older men (CS12)
        # and to remittance-firm customers (CS09); each sender belongs to one network
        n_send = rng.integers(p.senders[0], p.senders[1] + 1, n_cases)
        person_w = np.where(world.sex == "M", 4.0, 1.0) * np.where(
            (world.age >= 37) & (world.age <= 69), 3.0, 1.0)
        msb = world.wallet_account[world.persons] >= 0
        person_w = person_w * np.where(msb, 2.0, 1.0)
        weight = np.zeros(world.party_kind.size)
        weight[world.persons] = person_w
        senders = pick_persons(world, rng, sources, int(n_send.sum()), weight=weight[world.persons],
                               exclude=used)
        n_send = _fit_counts(n_send, senders.size)
        sender_case = np.repeat(np.arange(n_cases), n_send)

        # beneficiaries: the own network's receiving accounts first, then other facilitators
        b = rng.integers(p.beneficiaries[0], p.beneficiaries[1] + 1, senders.size)
        s_of = np.repeat(np.arange(senders.size), b)
        k = np.arange(s_of.size) - np.repeat(np.cumsum(b) - b, b)
        own = sender_case[s_of]
        use_third = (k == 1) & (third_acc[own] >= 0)
        other = rng.integers(0, n_cases, s_of.size)
        bcase = np.where((k == 0) | use_third, own, other)
        bacc = np.where(use_third, third_acc[own], fac_acc[bcase])
        pair_key = s_of * (n_cases + 1) * 2 + bcase * 2 + use_third
        _, first = np.unique(pair_key, return_index=True)
        first.sort()
        s_of, bcase, bacc = s_of[first], bcase[first], bacc[first]
        b_eff = np.bincount(s_of, minlength=senders.size)

        # per sender: start, duration, rate with a heavy tail (CS03, CS08), channel (CS09)
        sig = p.activity_sigma
        activity = rng.lognormal(-0.5 * sig**2, sig, senders.size)
        monthly = rng.uniform(*p.payments_per_month, senders.size) * activity
        # networks run for a while and are taken down; each sender pays within its network's run
        volume = np.bincount(sender_case, weights=monthly, minlength=n_cases)
        case_start, case_end = steady_spans(rng, n_cases, days, (180, 540), weight=volume)
        c_of = sender_case
        start = rng.integers(case_start[c_of], case_end[c_of] - 30)
        end = np.minimum(start + rng.integers(60, days + 60, senders.size), case_end[c_of])
        growth = p.escalation * rng.uniform(0.5, 1.5, senders.size)
        trend_growth, trend_rate = prevalence_trend(world.scenario, start)
        use_wallet = rng.random(senders.size) < p.remitter_share
        src_acc = payer_account(world, senders, prefer_wallet=use_wallet)
        chan = wallet_channel(world, src_acc)
        chan[rng.random(senders.size) < p.crypto_share] = channel("crypto")
        amount = p.median_amount * rng.lognormal(0, 0.3, senders.size)
        night = rng.random(senders.size) < p.night_share / 0.7  # the night profile is ~70% night
        cover = world.vocab.codes(COVER_WORDS)
        n_blank = round(cover.size * (1 - p.cover_reference_share) / max(p.cover_reference_share, 1e-9))
        pool = np.r_[cover, np.zeros(min(n_blank, 10_000), np.int32)]
        payments = Streams.build(
            rng, src=src_acc[s_of], dst=bacc, schedule=POISSON,
            rate=(monthly * trend_rate / 30.0 / b_eff)[s_of], median=amount[s_of], sigma=p.amount_sigma,
            even=(rng.random(senders.size) < p.even_share)[s_of], channel=chan[s_of],
            hours=np.where(night, hours("night"), hours("evening"))[s_of], weekdays=weekdays("all"),
            # a payee network receives only while it runs (another network's facilitator too)
            start_day=np.maximum(start[s_of], case_start[bcase]),
            end_day=np.minimum(end[s_of], case_end[bcase]), growth=(growth + trend_growth)[s_of],
            amount_growth=growth[s_of], case_id=case_ids[bcase], label=label, reference_pool=pool,
        )
        streams = [payments, self._co_purchases(world, rng, senders, src_acc, start, end)]
        # a network runs while any of its senders pays: it starts and is taken down with them
        first_day = np.full(n_cases, days, np.int64)
        last_day = np.zeros(n_cases, np.int64)
        np.minimum.at(first_day, sender_case, start)
        np.maximum.at(last_day, sender_case, end)
        streams += self._cash_out(world, rng, fac_acc, organiser, n_send, case_ids, label,
                                  first_day, last_day)
        events = self._travel(world, rng, senders, start, case_dest[sender_case],
                              case_ids[sender_case], label)

        travelled = events.case_id >= 0  # cash drawn abroad from the sender's main account
        roles = Roles.concat([
            Roles.of(src_acc, "sender", case_ids[sender_case]),
            Roles.of(events.src[travelled], "sender", events.case_id[travelled]),
            Roles.of(fac_acc, "facilitator", case_ids),
            Roles.of(third_acc[third_acc >= 0], "intermediary", case_ids[third_acc >= 0]),
            Roles.of(world.main_account[organiser[organiser >= 0]], "collector",
                     case_ids[organiser >= 0]),
        ])
        # a sender paying another network's facilitator is a sender of that case too
        cross = case_ids[bcase] != case_ids[sender_case[s_of]]
        roles = Roles.concat([roles, Roles.of(src_acc[s_of[cross]], "sender", case_ids[bcase[cross]])])
        return Cases(self.label, case_ids, self.params.model_dump(mode="json"), streams=streams,
                     events=events, roles=roles)

    def _co_purchases(self, world, rng, senders, src_acc, start, end) -> Streams:
        """VPN, anonymity and webcam purchases by some senders (CS10): ordinary-looking payments."""
        shops = np.r_[world.merchants.get("software_vpn", []), world.merchants.get("webcam", [])]
        buyers = np.flatnonzero(rng.random(senders.size) < self.params.co_purchase_share)
        if shops.size == 0 or buyers.size == 0:
            return Streams.build(rng, src=np.zeros(0, np.int64), dst=0, median=1.0, channel=0)
        shop = shops.astype(np.int64)[rng.integers(0, shops.size, buyers.size)]
        return Streams.build(
            rng, src=world.main_account[senders[buyers]], dst=world.main_account[shop],
            rate=0.15, median=20.0, sigma=0.5, channel=channel("card"), hours=hours("night"),
            weekdays=weekdays("all"), start_day=start[buyers] - 30, end_day=end[buyers],
        )

    def _cash_out(self, world, rng, fac_acc, organiser, n_send, case_ids, label, first_day,
                  last_day):
        """Facilitators forward most of the week's takings to an organiser, or draw them in cash."""
        p = self.params
        weekly = n_send * p.median_amount * np.mean(p.payments_per_month) / 4.3 * 0.7
        fwd = organiser >= 0
        to = np.where(fwd, world.main_account[np.maximum(organiser, 0)],
                      world.bank_cash_account[world.acc_bank[fac_acc]])
        return [Streams.build(
            rng, src=fac_acc, dst=to, rate=np.where(fwd, 1 / 7, 2 / 7),
            median=np.where(fwd, weekly, weekly / 2), sigma=0.4, even=True,
            channel=np.where(fwd, channel("transfer"), channel("cash")), hours=hours("office"),
            weekdays=weekdays("all"), start_day=first_day, end_day=last_day, case_id=case_ids,
            label=label,
        )]

    def _travel(self, world, rng, senders, start, dest, case_of_sender, label) -> TxnBlock:
        """Some older senders travel to the destination and withdraw cash there (CS11)."""
        older = world.age[senders] >= 50
        go = np.flatnonzero(older & (rng.random(senders.size) < self.params.travel_share))
        days = world.scenario.period.days
        if go.size == 0:
            return TxnBlock.empty()
        n_w = rng.integers(2, 6, go.size)
        who = np.repeat(go, n_w)
        trip = rng.integers(0, max(days - 10, 1), go.size)
        day = np.repeat(trip, n_w) + rng.integers(0, 7, who.size)
        day = np.minimum(day, days - 1)
        src = world.main_account[senders[who]]
        bank = pick_targets(rng, dest[who], np.arange(world.bank_id.size), world.bank_country)
        ts = local_time(world, src, day, sample_seconds_of_day(rng, np.full(who.size, hours("shopping"))))
        cash = make_events(
            world, ts=ts, src=src, dst=world.bank_cash_account[bank],
            amount_base=200 * rng.lognormal(0, 0.5, who.size), even=True, channel=channel("cash"),
            case_id=case_of_sender[who], label=label,
        )
        agencies = world.merchants.get("travel", np.zeros(0, np.int64))
        booked = trip - rng.integers(20, 40, go.size)
        ok = booked >= 0
        if agencies.size == 0 or not ok.any():
            return cash
        src = world.main_account[senders[go[ok]]]
        ts = local_time(world, src, booked[ok], sample_seconds_of_day(rng, np.full(ok.sum(), hours("evening"))))
        booking = make_events(
            world, ts=ts, src=src, dst=world.main_account[agencies[rng.integers(0, agencies.size, ok.sum())]],
            amount_base=900 * rng.lognormal(0, 0.4, ok.sum()), channel=channel("card"), case_id=-1,
            label=0,
        )
        return TxnBlock.concat([cash, booking])


def _fit_counts(counts: np.ndarray, total: int) -> np.ndarray:
    """Shrink per-case counts so they sum to `total` (when the population ran short)."""
    if counts.sum() <= total:
        return counts
    scaled = np.floor(counts * total / counts.sum()).astype(np.int64)
    scaled[: total - scaled.sum()] += 1
    return scaled
