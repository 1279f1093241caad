"""Shared machinery of the classic laundering patterns (AMLSim / AMLworld vocabulary).

A pattern plugin describes its cases as a `Shape`: per case a number of *slots* (the accounts of
the case, numbered from 0 inside it) and a list of payments between slots, each with a *step*
(its hop in time order) and an amount in the base currency. `PatternTypology.plan` draws distinct
accounts of the existing population for the slots, lays the steps out in time (a step's payments
spread over `spread_days`, consecutive steps a small delay apart, inside a daily window of the
case's first account), and builds the payments and roles. Everything is vectorised over cases and
payments; the helpers here (`ragged`, `shares`, `decay`, `lay_out`, ...) also serve the typologies
that are not patterns (sextortion, look-alikes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from finlab.errors import InputError
from finlab.typologies.base import Cases, ParamsModel, Roles, Typology, make_events
from finlab.world.behaviours.base import channel
from finlab.world.population import World
from finlab.world.streams import DAY

Count = Annotated[int, Field(ge=1, le=10_000)]
CountRange = tuple[Count, Count]
Pool = tuple[Annotated[int, Field(ge=2, le=10_000)], Annotated[int, Field(ge=2, le=10_000)]]
Hour = Annotated[float, Field(ge=0, le=24 * 365)]
Hours = tuple[Hour, Hour]
Money = tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]

#: local hours [start, end) inside which a case's payments are made
WINDOWS: dict[str, tuple[int, int]] = {"office": (8, 18), "personal": (7, 23)}
CASH = -1  # a slot value meaning: the cash account of the other side's bank


class RangeParams(ParamsModel):
    """Parameters whose (low, high) pairs must be ordered."""

    @model_validator(mode="after")
    def _ordered_ranges(self):
        for name, value in self:
            if isinstance(value, tuple) and len(value) == 2 and value[0] > value[1]:
                raise ValueError(f"{name}: the low end {value[0]} is above the high end {value[1]}")
        return self


class PatternParams(RangeParams):
    """What every classic pattern shares: money per case, fee per hop, timing, references."""

    amount_median: float = Field(
        20_000.0, gt=0,
        description="EUR, median of the money one case moves, log-normal (assumption)")
    amount_sigma: float = Field(0.6, ge=0, le=3, description="log-normal spread of that money")
    fee: float = Field(
        0.1, ge=0, lt=1, description="share each account keeps at every hop "
        "(AMLSim conf.json default margin_ratio 0.1)")
    spread_days: float = Field(
        3.0, ge=0, le=365, description="the payments of one step spread over this many active days")
    delay_hours: Hours = Field(
        (2.0, 48.0), description="active hours between one step and the next, uniform (assumption)")
    hours: Literal["office", "personal"] = Field(
        "office", description="daily window of the payments: office 08-18, personal 07-23 local")
    references: list[str] = Field(
        ["invoice", "services", "consulting", "payment", "", ""],
        description="payment references, one drawn per payment ('' for none)")


@dataclass
class Shape:
    """The cases of a pattern in slot terms (see the module docstring)."""

    sizes: np.ndarray  # slots (accounts) per case
    role: np.ndarray  # role name per slot, flat over the cases
    case: np.ndarray  # per payment: case index
    src: np.ndarray  # per payment: slot inside the case, or CASH
    dst: np.ndarray
    step: np.ndarray
    amount: np.ndarray  # base currency
    channel: np.ndarray | None = None  # default: transfer

    @classmethod
    def concat(cls, sizes: np.ndarray, role: np.ndarray, parts: list[dict]) -> Shape:
        """A shape from several groups of payments given as dicts of the per-payment columns."""
        cols = {k: np.concatenate([np.asarray(p[k]) for p in parts])
                for k in ("case", "src", "dst", "step", "amount")}
        chans = [np.broadcast_to(np.asarray(p.get("channel", channel("transfer")), np.int8),
                                 np.shape(p["case"])) for p in parts]
        return cls(sizes=np.asarray(sizes, np.int64), role=np.asarray(role, object),
                   channel=np.concatenate(chans), **cols)


# ---- vectorised building blocks ------------------------------------------------------------

def ragged(counts) -> tuple[np.ndarray, np.ndarray]:
    """For groups of the given sizes: the group of each item and the item's index in its group."""
    counts = np.asarray(counts, np.int64)
    group = np.repeat(np.arange(counts.size), counts)
    start = np.cumsum(counts) - counts
    return group, np.arange(group.size) - start[group]


def draw(rng: np.random.Generator, bounds, n: int) -> np.ndarray:
    """n integers uniform in the inclusive range `bounds`."""
    return rng.integers(bounds[0], bounds[1] + 1, n)


def shares(rng: np.random.Generator, group: np.ndarray, n_groups: int, spread: float = 0.5):
    """Random positive shares that sum to one within each group."""
    u = rng.uniform(1 - spread, 1 + spread, group.size)
    return u / np.bincount(group, u, n_groups)[group]


def totals(rng: np.random.Generator, n: int, median: float, sigma: float) -> np.ndarray:
    """The money of each of n cases, log-normal around `median`."""
    return median * rng.lognormal(0.0, sigma, n)


def decay(amount, step, fee: float) -> np.ndarray:
    """Amounts after `step` hops, each account keeping a share `fee` of what it passes on."""
    return np.asarray(amount, np.float64) * (1.0 - fee) ** np.asarray(step)


def slot_roles(sizes: np.ndarray,
               pick: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Role per slot: `pick(case, index)` maps each slot's case and index to a role name."""
    case, idx = ragged(sizes)
    return np.asarray(pick(case, idx), dtype=object)


# ---- actors --------------------------------------------------------------------------------

def population_accounts(world: World) -> np.ndarray:
    """Main accounts of persons and of ordinary businesses (never a bank's or a merchant's)."""
    acc = world.main_account[np.concatenate([world.persons, world.employers])]
    return acc[acc >= 0]


def draw_accounts(world: World, rng: np.random.Generator, n: int, *, pool=None, exclude=None,
                  what: str = "a typology") -> np.ndarray:
    """n distinct accounts from `pool` (default: the population's accounts) less `exclude`."""
    pool = population_accounts(world) if pool is None else np.asarray(pool, np.int64)
    if exclude is not None and np.size(exclude):
        pool = pool[~np.isin(pool, exclude)]
    if pool.size < n:
        raise InputError(f"typologies: {what} needs {n} distinct accounts and the population "
                         f"offers {pool.size}; add persons or lower the count")
    return rng.choice(pool, size=n, replace=False)


# ---- time ----------------------------------------------------------------------------------

def window_seconds(hours: str) -> int:
    """Length of the daily window in seconds: one active day."""
    w0, w1 = WINDOWS[hours]
    return (w1 - w0) * 3600


def step_offsets(rng: np.random.Generator, case: np.ndarray, step: np.ndarray, n_cases: int,
                 spread_s: float, gap_hours: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Active seconds from its case's start for each payment: the payments of step s fall in
    [start_s, start_s + spread_s), and start_{s+1} = start_s + spread_s + gap_hours(s+1)."""
    n_steps = np.zeros(n_cases, np.int64)
    np.maximum.at(n_steps, case, step + 1)
    row_case, row_step = ragged(n_steps)
    inc = np.where(row_step > 0, spread_s + gap_hours(row_step) * 3600.0, 0.0)
    cum = np.cumsum(inc)
    first = np.cumsum(n_steps) - n_steps
    start = cum - cum[first[row_case]]
    return start[first[case] + step] + rng.random(case.size) * spread_s


def lay_out(world: World, rng: np.random.Generator, group: np.ndarray, offset: np.ndarray,
            anchor: np.ndarray, hours: str) -> np.ndarray:
    """UTC seconds of payments given as offsets in active seconds from their group's start.

    Active time runs only inside the daily window of the group's `anchor` account, so a delay of
    a few hours started in the evening ends the next morning, and time order is kept. Each group
    starts on a random day such that all its payments fall inside the period; groups longer than
    the period are compressed to fit.
    """
    days = world.scenario.period.days
    w0 = WINDOWS[hours][0] * 3600
    length = window_seconds(hours)
    n = anchor.size
    span = np.zeros(n)
    np.maximum.at(span, group, offset)
    room = max(days - 2, 1) * length - 1
    off = offset * np.minimum(1.0, room / np.maximum(span, 1.0))[group]
    span_days = np.zeros(n, np.int64)
    np.maximum.at(span_days, group, (off // length).astype(np.int64))
    start = 1 + np.floor(rng.random(n) * np.maximum(days - 2 - span_days, 1)).astype(np.int64)
    day = start[group] + (off // length).astype(np.int64)
    local = w0 + np.floor(np.mod(off, length)).astype(np.int64)
    epoch = world.epoch()
    ts = epoch + day * DAY + local - world.account_utc_offset_s()[anchor[group]]
    return np.clip(ts, epoch, epoch + days * DAY - 1)


def references(world: World, rng: np.random.Generator, texts: list[str], n: int) -> np.ndarray:
    """One reference code per payment, drawn from `texts`."""
    codes = world.vocab.codes(texts) if texts else np.zeros(1, np.int32)
    return codes[rng.integers(0, codes.size, n)]


# ---- the pattern typology ------------------------------------------------------------------

class PatternTypology(Typology):
    """A classic pattern: subclasses define Params (a PatternParams) and `shape`."""

    Params = PatternParams

    def shape(self, rng: np.random.Generator, n: int) -> Shape:
        raise NotImplementedError

    def accounts(self, world: World, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        """Distinct accounts for all slots of all cases (flat, in slot order)."""
        return draw_accounts(world, rng, int(shape.sizes.sum()), what=self.name)

    def gaps(self, rng: np.random.Generator, step: np.ndarray) -> np.ndarray:
        """Active hours between step-1 and step."""
        return rng.uniform(*self.params.delay_hours, step.size)

    def plan(self, world, rng, case_ids):
        p = self.params
        n = case_ids.size
        s = self.shape(rng, n)
        acc = self.accounts(world, rng, s)
        first = np.cumsum(s.sizes) - s.sizes
        dst_slot = first[s.case] + s.dst
        src_slot = first[s.case] + np.maximum(s.src, 0)
        cash = s.src == CASH
        dst = acc[dst_slot]
        src = np.where(cash, world.bank_cash_account[world.acc_bank[dst]], acc[src_slot])
        chan = s.channel if s.channel is not None else np.full(s.case.size, channel("transfer"))
        offset = step_offsets(rng, s.case, s.step, n, p.spread_days * window_seconds(p.hours),
                              lambda step: self.gaps(rng, step))
        ts = lay_out(world, rng, s.case, offset, acc[first], p.hours)
        ref = np.where(chan == channel("cash"), world.vocab.code("cash deposit"),
                       references(world, rng, p.references, s.case.size))
        events = make_events(world, ts=ts, src=src, dst=dst, amount_base=s.amount, channel=chan,
                             case_id=case_ids[s.case], label=world.labels.code(self.label),
                             reference=ref)
        used = np.zeros(acc.size, bool)
        used[dst_slot] = True
        used[src_slot[~cash]] = True
        roles = Roles.of(acc[used], s.role[used], np.repeat(case_ids, s.sizes)[used])
        return Cases(self.label, case_ids, p.model_dump(mode="json"), events=events, roles=roles)


class StarParams(PatternParams):
    """Fan-in and fan-out: how many accounts meet the hub, over how long."""

    degree: CountRange = Field(
        (5, 16), description="accounts paying the hub (fan-in) or paid by it (fan-out) per case: "
        "AMLSim's typologies sample uses 5 (paramFiles/typologies/alertPatterns.csv), AMLworld "
        "marks fans up to 'Max 16-degree'")
    spread_days: float = Field(
        7.0, ge=0, le=365, description="active days over which the payments are made (assumption)")


class Star(PatternTypology):
    """Fan-in (the leaves pay the hub) or fan-out (the hub pays the leaves); slot 0 is the hub."""

    Params = StarParams
    inward: ClassVar[bool] = True

    def shape(self, rng, n):
        p = self.params
        k = draw(rng, p.degree, n)
        case, i = ragged(k)
        amount = totals(rng, n, p.amount_median, p.amount_sigma)[case] * shares(rng, case, n)
        leaf, hub = i + 1, np.zeros_like(i)
        hub_role, leaf_role = ("sink", "source") if self.inward else ("source", "sink")
        role = slot_roles(k + 1, lambda c, j: np.where(j == 0, hub_role, leaf_role))
        return Shape.concat(k + 1, role, [{
            "case": case, "src": leaf if self.inward else hub, "dst": hub if self.inward else leaf,
            "step": np.zeros_like(i), "amount": amount,
        }])


def decoy_cases(typology: Typology, world: World, events, accounts: np.ndarray) -> Cases:
    """The plan of a benign look-alike: labelled payments, no case (case_ids empty, case_id -1),
    and the role decoy:<class> on `accounts`."""
    acc = np.unique(np.asarray(accounts, np.int64))
    return Cases(typology.label, np.zeros(0, np.int64), typology.params.model_dump(mode="json"),
                 events=events, roles=Roles.of(acc, typology.label, -1))
