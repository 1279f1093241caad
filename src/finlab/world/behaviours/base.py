"""The behaviour contract: a plugin plans payment streams over the world once, for the whole period."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from finlab.registry import Configurable, Registry, StrictModel
from finlab.schema import CHANNELS
from finlab.world.population import World
from finlab.world.rhythm import hour_code, weekday_code
from finlab.world.streams import Streams


class Behaviour(Configurable):
    """Ordinary activity of the population. Subclasses define `Params` and `plan`."""

    name: ClassVar[str]
    #: which side of a look-alike stream (label > 0) gets the decoy:<class> account label
    look_alike_side: ClassVar[str] = "src"

    class Params(StrictModel):
        pass

    def plan(self, world: World, rng: np.random.Generator) -> list[Streams]:
        raise NotImplementedError


BEHAVIOURS: Registry[type[Behaviour]] = Registry("behaviour")


def channel(name: str) -> int:
    return CHANNELS.index(name)


def hours(name: str) -> int:
    return hour_code(name)


def weekdays(name: str) -> int:
    return weekday_code(name)


def pick_targets(
    rng: np.random.Generator,
    payer_country: np.ndarray,
    targets: np.ndarray,
    target_country: np.ndarray,
    *,
    domestic: bool = True,
    popularity: float = 1.0,
) -> np.ndarray:
    """One target (party position) per payer, from the payer's country when `domestic` and any exist.

    Targets are chosen with Zipf-like popularity (exponent `popularity`), so a few merchants or
    employers are large. Returns -1 where no target exists.
    """
    out = np.full(payer_country.size, -1, dtype=np.int64)
    if targets.size == 0:
        return out

    def draw(options: np.ndarray, n: int) -> np.ndarray:
        w = 1.0 / np.arange(1, options.size + 1) ** popularity
        return options[rng.choice(options.size, size=n, p=w / w.sum())]

    if not domestic:
        return draw(targets, payer_country.size)
    for c in np.unique(payer_country):
        rows = np.flatnonzero(payer_country == c)
        options = targets[target_country == c]
        out[rows] = draw(options if options.size else targets, rows.size)
    return out


def payer_account(
    world: World,
    party: np.ndarray,
    prefer_wallet: np.ndarray | None = None,
    wallet_kinds: tuple[str, ...] = ("money_services", "payment_app"),
) -> np.ndarray:
    """The account a party uses: its wallet (of the given provider kinds) where preferred and held,
    else its main account."""
    acc = world.main_account[party]
    if prefer_wallet is not None:
        wallet = world.wallet_account[party]
        held = wallet >= 0
        usable = held & np.isin(world.bank_kind[world.acc_bank[np.where(held, wallet, 0)]], wallet_kinds)
        acc = np.where(prefer_wallet & usable, wallet, acc)
    return acc


def wallet_channel(world: World, account: np.ndarray, default: str = "transfer") -> np.ndarray:
    """The channel a payment from this account travels on: remittance firm, payment app, or bank."""
    kinds = world.bank_kind[world.acc_bank[account]]
    out = np.full(account.size, channel(default), dtype=np.int8)
    out[kinds == "money_services"] = channel("remittance")
    out[kinds == "payment_app"] = channel("p2p_app")
    return out


def price_level(world: World, party: np.ndarray) -> np.ndarray:
    """Each party's local price level, so amounts fit the country the payer lives in."""
    return world.country_attr("price_level").astype(np.float64)[world.party_country[party]]


def sample_persons(world: World, rng: np.random.Generator, share: float) -> np.ndarray:
    """Party positions of a random share of the persons."""
    return world.persons[rng.random(world.persons.size) < share]


def contacts(rng: np.random.Generator, k_mean: float, payers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat each payer 1 + Poisson(k_mean - 1) times: (payer per stream, stream count per payer)."""
    k = 1 + rng.poisson(max(k_mean - 1.0, 0.0), size=payers.size)
    return np.repeat(payers, k), k
