"""The static world: countries, banks, persons with households, businesses, merchants, accounts.

Everything is built with vectorized numpy from seeded generators. Parties and accounts are kept as
parallel arrays indexed by position while generating; their opaque ids are random and their output
tables are ordered by id, so neither ids nor row order say anything about who is who.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from finlab.rng import generator, opaque_ids
from finlab.world.names import sample_names

if TYPE_CHECKING:  # config imports the plugins, which are built on the world
    from finlab.config import Scenario

BANK_SUFFIX = {"bank": "Bank", "money_services": "Remit", "payment_app": "Pay"}


class Vocabulary:
    """Payment reference texts, each stored once and used by code."""

    def __init__(self) -> None:
        self.words: list[str] = [""]
        self._codes: dict[str, int] = {"": 0}

    def code(self, text: str) -> int:
        if text not in self._codes:
            self._codes[text] = len(self.words)
            self.words.append(text)
        return self._codes[text]

    def codes(self, texts: list[str]) -> np.ndarray:
        return np.array([self.code(t) for t in texts], dtype=np.int32)


@dataclass
class World:
    """Parties and accounts as parallel arrays (positions), plus lookups the flows need."""

    scenario: Scenario
    country_codes: list[str]
    # banks
    bank_id: np.ndarray
    bank_name: np.ndarray
    bank_country: np.ndarray
    bank_kind: np.ndarray
    # parties
    party_id: np.ndarray
    party_kind: np.ndarray  # "person" | "business"
    party_name: np.ndarray
    party_country: np.ndarray
    party_household: np.ndarray  # int64; a business is a household of its own (no missing values)
    party_sector: np.ndarray
    # persons (one entry per person; `persons` are their party positions)
    persons: np.ndarray
    age: np.ndarray
    sex: np.ndarray
    origin: np.ndarray  # country index of birth abroad (diaspora), -1 otherwise
    # accounts
    account_id: np.ndarray
    acc_party: np.ndarray
    acc_bank: np.ndarray
    acc_kind: np.ndarray
    acc_opened: np.ndarray  # int64 UTC seconds
    activity: np.ndarray  # per account, mean 1, heavy tailed
    # lookups: account positions
    main_account: np.ndarray  # per party
    wallet_account: np.ndarray  # per party, -1 if none
    bank_cash_account: np.ndarray  # per bank
    employers: np.ndarray  # party positions of employers and suppliers
    merchants: dict[str, np.ndarray] = field(default_factory=dict)  # category -> party positions
    vocab: Vocabulary = field(default_factory=Vocabulary)
    labels: Vocabulary = field(default_factory=Vocabulary)  # typology and look-alike names
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ---- derived lookups -------------------------------------------------------------------
    @property
    def acc_country(self) -> np.ndarray:
        return self.bank_country[self.acc_bank]

    @property
    def n_countries(self) -> int:
        return len(self.country_codes)

    def country_index(self, code: str) -> int:
        return self.country_codes.index(code)

    def country_attr(self, name: str) -> np.ndarray:
        """One attribute of every country, by country index."""
        return np.array([getattr(c, name) for c in self.scenario.countries])

    def account_fx(self) -> np.ndarray:
        """Base-currency value of one unit of each account's currency (computed once)."""
        if "_fx" not in self._cache:
            sc = self.scenario
            rates = np.array([sc.fx(c.currency) for c in sc.countries], dtype=np.float64)
            self._cache["_fx"] = rates[self.acc_country]
        return self._cache["_fx"]

    def account_utc_offset_s(self) -> np.ndarray:
        """Each account holder's UTC offset in seconds, the country of its bank (computed once)."""
        if "_offset" not in self._cache:
            hours = self.country_attr("utc_offset").astype(np.float64)
            self._cache["_offset"] = (hours * 3600).astype(np.int64)[self.acc_country]
        return self._cache["_offset"]

    def epoch(self) -> int:
        """UTC seconds of the period's first midnight."""
        start = dt.datetime.combine(self.scenario.period.start, dt.time(), dt.timezone.utc)
        return int(start.timestamp())

    def persons_in(self, country: int) -> np.ndarray:
        """Positions (into `persons`) of the persons living in a country."""
        return np.flatnonzero(self.party_country[self.persons] == country)

    def bank_kinds_in(self, country: int, kinds: tuple[str, ...]) -> np.ndarray:
        return np.flatnonzero((self.bank_country == country) & np.isin(self.bank_kind, kinds))

    # ---- output tables ---------------------------------------------------------------------
    def tables(self) -> dict[str, pd.DataFrame]:
        """The observable static tables, ordered by their opaque ids."""
        codes = np.array(self.country_codes, dtype=object)
        c = self.scenario.countries
        countries = pd.DataFrame(
            {
                "country": [x.code for x in c],
                "name": [x.name for x in c],
                "currency": [x.currency for x in c],
                "utc_offset": np.array([x.utc_offset for x in c], dtype=np.float32),
                "risk": [x.risk for x in c],
            }
        )
        banks = pd.DataFrame(
            {
                "bank_id": self.bank_id,
                "name": self.bank_name,
                "country": codes[self.bank_country],
                "kind": self.bank_kind,
            }
        ).sort_values("bank_id", ignore_index=True)
        parties = pd.DataFrame(
            {
                "party_id": self.party_id,
                "kind": self.party_kind,
                "name": self.party_name,
                "country": codes[self.party_country],
                "household_id": self.party_household,
                "sector": self.party_sector,
            }
        ).sort_values("party_id", ignore_index=True)
        currency = np.array([x.currency for x in c], dtype=object)
        accounts = pd.DataFrame(
            {
                "account_id": self.account_id,
                "party_id": self.party_id[self.acc_party],
                "bank_id": self.bank_id[self.acc_bank],
                "country": codes[self.acc_country],
                "currency": currency[self.acc_country],
                "kind": self.acc_kind,
                "opened_at": pd.to_datetime(self.acc_opened, unit="s", utc=True),
            }
        ).sort_values("account_id", ignore_index=True)
        attributes = pd.DataFrame(
            {
                "party_id": self.party_id[self.persons],
                "age": self.age.astype(np.int16),
                "sex": self.sex,
            }
        ).sort_values("party_id", ignore_index=True)
        return {
            "countries": countries,
            "banks": banks,
            "parties": parties,
            "accounts": accounts,
            "party_attributes": attributes,
        }


def _split_by_weight(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    """A country index for each of n entities, drawn by weight."""
    p = weights / weights.sum()
    return rng.choice(p.size, size=n, p=p)


def _market_share(rng: np.random.Generator, k: int) -> np.ndarray:
    """Unequal market shares for k competing banks (a few large, many small)."""
    w = 1.0 / np.arange(1, k + 1) ** 0.8
    return rng.permutation(w / w.sum())


def _pick_bank(rng, world_banks_country, world_banks_kind, owner_country, kinds, n_countries):
    """One bank of the given kinds in each owner's country (by market share), -1 if none exists."""
    out = np.full(owner_country.size, -1, dtype=np.int64)
    for c in range(n_countries):
        rows = np.flatnonzero(owner_country == c)
        options = np.flatnonzero((world_banks_country == c) & np.isin(world_banks_kind, kinds))
        if rows.size == 0 or options.size == 0:
            continue
        out[rows] = options[rng.choice(options.size, size=rows.size, p=_market_share(rng, options.size))]
    return out


def build_world(scenario: Scenario) -> World:
    """Build the static world of a scenario (deterministic in the scenario and its seed)."""
    seed = scenario.seed
    rng = generator(seed, "world")
    countries = scenario.countries
    codes = [c.code for c in countries]
    n_c = len(codes)
    weights = np.array([c.weight for c in countries], dtype=np.float64)
    if weights.sum() <= 0:
        weights = np.ones(n_c)
    locale = [c.locale for c in countries]

    # --- banks ---
    b_country, b_kind = [], []
    for g in scenario.banks:
        b_country += [codes.index(g.country)] * g.count
        b_kind += [g.kind] * g.count
    bank_country = np.array(b_country, dtype=np.int64)
    bank_kind = np.array(b_kind, dtype=object)
    n_banks = bank_country.size
    bank_hex = rng.choice(16**6, size=n_banks * 2, replace=False)[:n_banks]
    bank_id = np.array([f"B{h:06X}" for h in bank_hex], dtype=object)
    bank_name = np.empty(n_banks, dtype=object)
    for c in range(n_c):
        rows = np.flatnonzero(bank_country == c)
        if rows.size:
            base = sample_names(rng, locale[c], "last", rows.size, seed)
            bank_name[rows] = [f"{b} {BANK_SUFFIX[k]}" for b, k in zip(base, bank_kind[rows])]

    # --- persons and households ---
    n_p = scenario.population.persons
    p_country = np.sort(_split_by_weight(rng, n_p, weights))
    origin = np.full(n_p, -1, dtype=np.int64)
    for d in scenario.population.diaspora:
        host = np.flatnonzero((p_country == codes.index(d.host)) & (origin < 0))
        k = int(round(d.share * host.size))
        origin[rng.choice(host, size=k, replace=False)] = codes.index(d.origin)
    age = np.clip(np.round(rng.normal(46, 16, n_p)), 18, 90).astype(np.int64)
    sex = np.where(rng.random(n_p) < 0.5, "F", "M").astype(object)

    # households: consecutive persons of one country after a shuffle; sizes 1 + Poisson(mean - 1)
    order = np.lexsort((rng.random(n_p), p_country))
    sizes = 1 + rng.poisson(scenario.population.household_size_mean - 1, size=n_p)
    starts = np.cumsum(sizes) - sizes
    starts = starts[starts < n_p]
    hh_of_sorted = np.searchsorted(starts, np.arange(n_p), side="right") - 1
    # a household never spans two countries: break at country changes
    breaks = np.r_[0, np.cumsum(np.diff(p_country[order]) != 0)]
    hh_key = hh_of_sorted * (n_c + 1) + breaks
    _, hh_local = np.unique(hh_key, return_inverse=True)
    household = np.empty(n_p, dtype=np.int64)
    household[order] = hh_local
    n_hh = int(hh_local.max()) + 1 if n_p else 0
    hh_country = np.empty(n_hh, dtype=np.int64)
    hh_country[household] = p_country
    # diaspora persons join a household in their country of origin (family abroad)
    dias = np.flatnonzero(origin >= 0)
    for c in np.unique(origin[dias]):
        movers = dias[origin[dias] == c]
        options = np.flatnonzero(hh_country == c)
        if options.size:
            household[movers] = options[rng.integers(0, options.size, movers.size)]
    hh_locale_country = hh_country  # surnames follow the household's own country
    surname = np.empty(n_hh, dtype=object)
    for c in range(n_c):
        rows = np.flatnonzero(hh_locale_country == c)
        if rows.size:
            surname[rows] = sample_names(rng, locale[c], "last", rows.size, seed)
    first = np.empty(n_p, dtype=object)
    name_country = np.where(origin >= 0, origin, p_country)
    for c in range(n_c):
        rows = np.flatnonzero(name_country == c)
        if rows.size:
            first[rows] = sample_names(rng, locale[c], "first", rows.size, seed)
    person_name = (pd.Series(first) + " " + pd.Series(surname[household])).to_numpy(dtype=object)

    # --- businesses: employers/suppliers, merchants by category, and one party per bank ---
    n_b = scenario.population.businesses
    emp_country = np.sort(_split_by_weight(rng, n_b, weights))
    for c in range(n_c):  # every populated country has at least one employer
        if (p_country == c).any() and not (emp_country == c).any():
            emp_country = np.r_[emp_country, c]
    biz_country = [emp_country]
    biz_sector = [np.full(emp_country.size, "general", dtype=object)]
    for cat, g in scenario.population.merchants.items():
        if g.countries:
            idx = np.array([codes.index(x) for x in g.countries])
            mc = idx[rng.integers(0, idx.size, g.count)]
        else:
            mc = _split_by_weight(rng, g.count, weights)
        biz_country.append(np.sort(mc))
        biz_sector.append(np.full(g.count, cat, dtype=object))
    biz_country.append(bank_country)
    biz_sector.append(np.full(n_banks, "financial", dtype=object))
    biz_country = np.concatenate(biz_country)
    biz_sector = np.concatenate(biz_sector)
    biz_name = np.empty(biz_country.size, dtype=object)
    for c in range(n_c):
        rows = np.flatnonzero(biz_country == c)
        if rows.size:
            biz_name[rows] = sample_names(rng, locale[c], "company", rows.size, seed)
    biz_name[biz_sector == "financial"] = bank_name

    n_parties = n_p + biz_country.size
    party_kind = np.r_[np.full(n_p, "person", dtype=object), np.full(biz_country.size, "business", dtype=object)]
    party_country = np.r_[p_country, biz_country]
    hh_ids = opaque_ids(rng, n_hh + biz_country.size)  # each business is a household of its own
    party_household = np.r_[hh_ids[household], hh_ids[n_hh:]]
    party_sector = np.r_[np.full(n_p, "household", dtype=object), biz_sector]
    party_name = np.r_[person_name, biz_name]
    party_id = opaque_ids(rng, n_parties)
    persons = np.arange(n_p)
    biz_pos = n_p + np.arange(biz_country.size)
    employers = biz_pos[: emp_country.size]
    merchants = {cat: biz_pos[biz_sector == cat] for cat in scenario.population.merchants}
    bank_party = biz_pos[-n_banks:] if n_banks else np.zeros(0, np.int64)

    # --- accounts ---
    acc_party, acc_bank, acc_kind = [], [], []
    main_account = np.full(n_parties, -1, dtype=np.int64)
    wallet_account = np.full(n_parties, -1, dtype=np.int64)
    n_acc = 0

    def add(parties: np.ndarray, banks: np.ndarray, kind: str) -> np.ndarray:
        nonlocal n_acc
        ok = banks >= 0
        parties, banks = parties[ok], banks[ok]
        acc_party.append(parties)
        acc_bank.append(banks)
        acc_kind.append(np.full(parties.size, kind, dtype=object))
        pos = n_acc + np.arange(parties.size)
        n_acc += parties.size
        return parties, pos

    parts, pos = add(persons, _pick_bank(rng, bank_country, bank_kind, p_country, ("bank",), n_c), "current")
    main_account[parts] = pos
    saver = persons[rng.random(n_p) < 0.3]
    add(saver, _pick_bank(rng, bank_country, bank_kind, p_country[saver], ("bank",), n_c), "savings")
    wallet_p = np.where(origin >= 0, 0.85, scenario.population.wallet_share)
    holders = persons[rng.random(n_p) < wallet_p]
    parts, pos = add(
        holders,
        _pick_bank(rng, bank_country, bank_kind, p_country[holders], ("money_services", "payment_app"), n_c),
        "wallet",
    )
    wallet_account[parts] = pos
    non_bank = biz_pos[: biz_pos.size - n_banks]
    kind = np.where(biz_sector[: non_bank.size] == "general", "business", "merchant")
    for k in ("business", "merchant"):
        rows = non_bank[kind == k]
        parts, pos = add(rows, _pick_bank(rng, bank_country, bank_kind, party_country[rows], ("bank",), n_c), k)
        main_account[parts] = pos
    parts, pos = add(bank_party, np.arange(n_banks), "cash")
    main_account[parts] = pos
    bank_cash_account = pos

    acc_party = np.concatenate(acc_party)
    acc_bank = np.concatenate(acc_bank)
    acc_kind = np.concatenate(acc_kind)
    start = dt.datetime.combine(scenario.period.start, dt.time(), dt.timezone.utc).timestamp()
    opened = int(start) - rng.integers(30, 15 * 365, size=n_acc) * 86_400 - rng.integers(0, 86_400, n_acc)
    sigma = scenario.population.activity_sigma
    activity = rng.lognormal(-0.5 * sigma**2, sigma, size=n_acc)

    return World(
        scenario=scenario,
        country_codes=codes,
        bank_id=bank_id,
        bank_name=bank_name,
        bank_country=bank_country,
        bank_kind=bank_kind,
        party_id=party_id,
        party_kind=party_kind,
        party_name=party_name,
        party_country=party_country,
        party_household=party_household,
        party_sector=party_sector,
        persons=persons,
        age=age,
        sex=sex,
        origin=origin,
        account_id=opaque_ids(rng, n_acc),
        acc_party=acc_party,
        acc_bank=acc_bank,
        acc_kind=acc_kind,
        acc_opened=opened.astype(np.int64),
        activity=activity,
        main_account=main_account,
        wallet_account=wallet_account,
        bank_cash_account=bank_cash_account,
        employers=employers,
        merchants=merchants,
    )
