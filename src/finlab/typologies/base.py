"""The typology contract: plan cases over the world once, then materialise them window by window.

A typology's `plan` draws its actors from the existing population (offenders also live ordinary
lives) and returns `Cases`: recurring payments as `Streams` and one-off payments as a fully timed
`TxnBlock`, both marked with case ids, plus the roles of the accounts involved. `materialize` is
shared: any window can be produced alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from finlab.registry import Configurable, Registry, StrictModel
from finlab.world.population import World
from finlab.world.streams import DAY, Clock, Streams, TxnBlock, Window, materialize


class ParamsModel(StrictModel):
    """Parameters of a typology: frozen, unknown keys forbidden, defaults from published indicators."""


@dataclass
class Roles:
    """Account labels: which account played which role in which case."""

    account: np.ndarray  # account positions
    role: np.ndarray  # object array of role names
    case_id: np.ndarray  # int64, -1 for look-alikes

    @classmethod
    def empty(cls) -> Roles:
        return cls(np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0, np.int64))

    @classmethod
    def concat(cls, parts: list[Roles]) -> Roles:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("account", "role", "case_id")))

    @classmethod
    def of(cls, account, role: str | np.ndarray, case_id) -> Roles:
        account = np.asarray(account, np.int64).ravel()
        n = account.size
        role_arr = np.broadcast_to(np.asarray(role, dtype=object), (n,)).copy()
        return cls(account, role_arr, np.broadcast_to(np.asarray(case_id, np.int64), (n,)).copy())


@dataclass
class Cases:
    """The plan of one typology: its cases, their payments and the roles of their accounts."""

    typology: str
    case_ids: np.ndarray  # int64
    parameters: dict
    streams: list[Streams] = field(default_factory=list)
    events: TxnBlock = field(default_factory=TxnBlock.empty)  # one-off payments, timed already
    roles: Roles = field(default_factory=Roles.empty)


class Typology(Configurable):
    """A suspicious payment pattern (or a benign look-alike). Subclasses define Params and plan."""

    name: ClassVar[str]
    look_alike: ClassVar[bool] = False

    class Params(ParamsModel):
        pass

    @property
    def label(self) -> str:
        """The name written into the labels: the typology, or decoy:<class> for look-alikes."""
        return f"decoy:{self.name}" if self.look_alike else self.name

    def plan(self, world: World, rng: np.random.Generator, case_ids: np.ndarray) -> Cases:
        """Choose actors and schedules for the given case ids (one case each)."""
        raise NotImplementedError


def materialize_cases(cases: Cases, w: Window, clock: Clock, rng: np.random.Generator) -> TxnBlock:
    """The payments of a typology's cases that fall in window `w`."""
    blocks = [materialize(s, w, clock, rng) for s in cases.streams]
    ev = cases.events
    lo, hi = clock.epoch + w.start * DAY, clock.epoch + w.end * DAY
    blocks.append(ev.take(np.flatnonzero((ev.ts >= lo) & (ev.ts < hi))))
    return TxnBlock.concat(blocks)


TYPOLOGIES: Registry[type[Typology]] = Registry("typology")


def make_events(world: World, *, ts, src, dst, amount_base, channel, case_id, label: int,
                even=False, reference=0) -> TxnBlock:
    """One-off payments with known times; amounts given in the base currency are converted into
    the payer's currency and rounded like every other payment."""
    from finlab.world.streams import round_amounts

    src = np.asarray(src, np.int64)
    n = src.size
    fx = world.account_fx()[src]
    even = np.broadcast_to(np.asarray(even, bool), (n,))
    return TxnBlock(
        ts=np.asarray(ts, np.int64),
        src=src,
        dst=np.broadcast_to(np.asarray(dst, np.int64), (n,)).copy(),
        amount=round_amounts(np.asarray(amount_base, np.float64) / fx, even.copy()),
        channel=np.broadcast_to(np.asarray(channel, np.int8), (n,)).copy(),
        reference=np.broadcast_to(np.asarray(reference, np.int32), (n,)).copy(),
        case_id=np.broadcast_to(np.asarray(case_id, np.int64), (n,)).copy(),
        typology=np.full(n, label, np.int16),
    )


def local_time(world: World, src: np.ndarray, day: np.ndarray, local_seconds: np.ndarray) -> np.ndarray:
    """UTC seconds of a payment on period day `day` at `local_seconds` after the payer's midnight."""
    offset = world.account_utc_offset_s()[src]
    return world.epoch() + np.asarray(day, np.int64) * DAY + np.mod(local_seconds - offset, DAY)


def pick_persons(world: World, rng: np.random.Generator, countries: list[int], n: int,
                 weight: np.ndarray | None = None, exclude: np.ndarray | None = None) -> np.ndarray:
    """n distinct persons (party positions) living in the given countries, drawn by weight."""
    persons = world.persons
    ok = np.isin(world.party_country[persons], countries)
    if exclude is not None and exclude.size:
        ok &= ~np.isin(persons, exclude)
    pool = persons[ok]
    if pool.size == 0 or n <= 0:
        return np.zeros(0, np.int64)
    w = np.ones(pool.size) if weight is None else weight[ok].astype(np.float64)
    n = min(n, pool.size)
    return rng.choice(pool, size=n, replace=False, p=w / w.sum())


def country_indices(world: World, codes) -> list[int]:
    """Indices of the listed country codes that exist in this world."""
    return [world.country_index(c) for c in codes if c in world.country_codes]


#: the golden-ratio step: consecutive multiples spread most evenly over [0, 1)
GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def steady_spans(rng, n: int, days: int, duration: tuple[int, int],
                 weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Start and end days of `n` long-running activities planned over a horizon longer than the
    observed period: each lasts a duration drawn from `duration` and starts uniformly between
    (duration - 1) days before the period and its last day. Every one overlaps the period, and
    the chance that one is running is the same on every day, so at any moment some are already
    running, some start and some end, and the suspicious share stays level. Days before 0 are
    not in the data: a case's first and last times are those of its payments inside it.

    The starts are spread, not independent: activity i starts at quantile q[i] of its own range,
    where the q follow a golden-ratio sequence from a random origin, assigned in order of
    `weight` (expected volume, heaviest first). Each start is still uniform on its own, but a
    few dozen networks no longer bunch up, and the heaviest ones sit far apart in time."""
    length = rng.integers(duration[0], duration[1], n)
    order = rng.permutation(n) if weight is None else np.argsort(-np.asarray(weight), kind="stable")
    quantile = np.empty(n)
    quantile[order] = np.mod(rng.random() + np.arange(n) * GOLDEN, 1.0)
    start = 1 - length + np.floor(quantile * (days + length - 1)).astype(np.int64)
    return start, start + length


def prevalence_trend(scenario, start: np.ndarray) -> tuple[float, np.ndarray]:
    """(log growth per 30 days, rate factor per activity) that make recurring activities starting
    on days `start` grow by the scenario's `prevalence_trend` over the period (2.0 doubles it;
    none keeps it level). Streams grow from their start day, so the rate is scaled back by the
    growth before day 0 to make the factor depend on the calendar day only."""
    trend = getattr(scenario, "prevalence_trend", None)
    if trend is None or trend == 1:
        return 0.0, np.ones(np.shape(start))
    g = 30.0 * np.log(trend) / scenario.period.days
    return g, np.exp(g * np.asarray(start, np.float64) / 30.0)
