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


class Codebook:
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
    vocab: Codebook = field(default_factory=Codebook)
    labels: Codebook = field(default_factory=Codebook)  # typology and look-alike names
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
        start = dt.datetime.combine(self.scenario.period.start, dt.time(), dt.UTC)
        return int(start.timestamp())

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


@dataclass
class _Setting:
    """What every step of build_world reads: the scenario, its one seeded generator (the steps
    draw from it in a fixed order) and the countries."""

    scenario: Scenario
    rng: np.random.Generator
    codes: list[str]
    weights: np.ndarray  # population weight per country
    locale: list[str]

    @property
    def n_countries(self) -> int:
        return len(self.codes)

    def names(self, country: np.ndarray, kind: str) -> np.ndarray:
        """A name of `kind` (first, last, company) for each entity, in its country's locale."""
        out = np.empty(country.size, dtype=object)
        for c in range(self.n_countries):
            rows = np.flatnonzero(country == c)
            if rows.size:
                out[rows] = sample_names(self.rng, self.locale[c], kind, rows.size,
                                         self.scenario.seed)
        return out


@dataclass
class _Banks:
    country: np.ndarray
    kind: np.ndarray
    id: np.ndarray
    name: np.ndarray


@dataclass
class _Persons:
    country: np.ndarray
    origin: np.ndarray  # country of birth abroad (diaspora), -1 otherwise
    age: np.ndarray
    sex: np.ndarray
    household: np.ndarray  # household index (not yet an id)
    n_households: int
    name: np.ndarray


@dataclass
class _Businesses:
    country: np.ndarray  # employers first, then merchants by category, then one per bank
    sector: np.ndarray
    name: np.ndarray
    n_employers: int


@dataclass
class _Parties:
    id: np.ndarray
    kind: np.ndarray
    name: np.ndarray
    country: np.ndarray
    household: np.ndarray
    sector: np.ndarray
    persons: np.ndarray
    businesses: np.ndarray  # party positions of the businesses, in _Businesses order
    employers: np.ndarray
    merchants: dict[str, np.ndarray]
    banks: np.ndarray  # the party of each bank


class _AccountList:
    """Accounts appended group by group (party, bank, kind); parties without a bank get none."""

    def __init__(self) -> None:
        self.party: list[np.ndarray] = []
        self.bank: list[np.ndarray] = []
        self.kind: list[np.ndarray] = []
        self.n = 0

    def add(self, parties: np.ndarray, banks: np.ndarray, kind: str):
        """Open one account of `kind` per party at its bank; returns (parties, positions)."""
        ok = banks >= 0
        parties, banks = parties[ok], banks[ok]
        self.party.append(parties)
        self.bank.append(banks)
        self.kind.append(np.full(parties.size, kind, dtype=object))
        pos = self.n + np.arange(parties.size)
        self.n += parties.size
        return parties, pos


def _setting(scenario: Scenario) -> _Setting:
    countries = scenario.countries
    weights = np.array([c.weight for c in countries], dtype=np.float64)
    if weights.sum() <= 0:
        weights = np.ones(len(countries))
    return _Setting(scenario, generator(scenario.seed, "world"), [c.code for c in countries],
                    weights, [c.locale for c in countries])


def _banks(s: _Setting) -> _Banks:
    """The banks of every bank group, with random opaque ids and local names."""
    b_country, b_kind = [], []
    for g in s.scenario.banks:
        b_country += [s.codes.index(g.country)] * g.count
        b_kind += [g.kind] * g.count
    country = np.array(b_country, dtype=np.int64)
    kind = np.array(b_kind, dtype=object)
    n = country.size
    bank_hex = s.rng.choice(16**6, size=n * 2, replace=False)[:n]
    ids = np.array([f"B{h:06X}" for h in bank_hex], dtype=object)
    base = s.names(country, "last")
    name = np.array([f"{b} {BANK_SUFFIX[k]}" for b, k in zip(base, kind)], dtype=object)
    return _Banks(country, kind, ids, name)


def _persons(s: _Setting) -> _Persons:
    """Persons by country (some born abroad), their age, sex, household and name."""
    pop = s.scenario.population
    n_p = pop.persons
    country = np.sort(_split_by_weight(s.rng, n_p, s.weights))
    origin = np.full(n_p, -1, dtype=np.int64)
    for d in pop.diaspora:
        host = np.flatnonzero((country == s.codes.index(d.host)) & (origin < 0))
        k = round(d.share * host.size)
        origin[s.rng.choice(host, size=k, replace=False)] = s.codes.index(d.origin)
    age = np.clip(np.round(s.rng.normal(46, 16, n_p)), 18, 90).astype(np.int64)
    sex = np.where(s.rng.random(n_p) < 0.5, "F", "M").astype(object)
    household, hh_country = _households(s, country, origin)
    surname = s.names(hh_country, "last")  # surnames follow the household's own country
    first = s.names(np.where(origin >= 0, origin, country), "first")
    name = (pd.Series(first) + " " + pd.Series(surname[household])).to_numpy(dtype=object)
    return _Persons(country, origin, age, sex, household, hh_country.size, name)


def _households(s: _Setting, country: np.ndarray, origin: np.ndarray):
    """Household of each person and country of each household: consecutive persons of one
    country after a shuffle, sizes 1 + Poisson(mean - 1); diaspora persons then join a household
    in their country of origin (family abroad)."""
    n_p = country.size
    order = np.lexsort((s.rng.random(n_p), country))
    sizes = 1 + s.rng.poisson(s.scenario.population.household_size_mean - 1, size=n_p)
    starts = np.cumsum(sizes) - sizes
    starts = starts[starts < n_p]
    hh_of_sorted = np.searchsorted(starts, np.arange(n_p), side="right") - 1
    # a household never spans two countries: break at country changes
    breaks = np.r_[0, np.cumsum(np.diff(country[order]) != 0)]
    hh_key = hh_of_sorted * (s.n_countries + 1) + breaks
    _, hh_local = np.unique(hh_key, return_inverse=True)
    household = np.empty(n_p, dtype=np.int64)
    household[order] = hh_local
    n_hh = int(hh_local.max()) + 1 if n_p else 0
    hh_country = np.empty(n_hh, dtype=np.int64)
    hh_country[household] = country
    dias = np.flatnonzero(origin >= 0)
    for c in np.unique(origin[dias]):
        movers = dias[origin[dias] == c]
        options = np.flatnonzero(hh_country == c)
        if options.size:
            household[movers] = options[s.rng.integers(0, options.size, movers.size)]
    return household, hh_country


def _businesses(s: _Setting, person_country: np.ndarray, banks: _Banks) -> _Businesses:
    """Employers and suppliers, merchants by category, and one business party per bank."""
    emp_country = np.sort(_split_by_weight(s.rng, s.scenario.population.businesses, s.weights))
    for c in range(s.n_countries):  # every populated country has at least one employer
        if (person_country == c).any() and not (emp_country == c).any():
            emp_country = np.r_[emp_country, c]
    country = [emp_country]
    sector = [np.full(emp_country.size, "general", dtype=object)]
    for cat, g in s.scenario.population.merchants.items():
        if g.countries:
            idx = np.array([s.codes.index(x) for x in g.countries])
            mc = idx[s.rng.integers(0, idx.size, g.count)]
        else:
            mc = _split_by_weight(s.rng, g.count, s.weights)
        country.append(np.sort(mc))
        sector.append(np.full(g.count, cat, dtype=object))
    country.append(banks.country)
    sector.append(np.full(banks.country.size, "financial", dtype=object))
    country = np.concatenate(country)
    sector = np.concatenate(sector)
    name = s.names(country, "company")
    name[sector == "financial"] = banks.name
    return _Businesses(country, sector, name, emp_country.size)


def _parties(s: _Setting, persons: _Persons, biz: _Businesses, n_banks: int) -> _Parties:
    """Persons then businesses as one set of parties, with opaque party and household ids."""
    n_p, n_biz = persons.country.size, biz.country.size
    hh_ids = opaque_ids(s.rng, persons.n_households + n_biz)  # a business is its own household
    biz_pos = n_p + np.arange(n_biz)
    return _Parties(
        kind=np.r_[np.full(n_p, "person", dtype=object), np.full(n_biz, "business", dtype=object)],
        country=np.r_[persons.country, biz.country],
        household=np.r_[hh_ids[persons.household], hh_ids[persons.n_households:]],
        sector=np.r_[np.full(n_p, "household", dtype=object), biz.sector],
        name=np.r_[persons.name, biz.name],
        id=opaque_ids(s.rng, n_p + n_biz),
        persons=np.arange(n_p),
        businesses=biz_pos,
        employers=biz_pos[: biz.n_employers],
        merchants={cat: biz_pos[biz.sector == cat] for cat in s.scenario.population.merchants},
        banks=biz_pos[-n_banks:] if n_banks else np.zeros(0, np.int64),
    )


def _accounts(s: _Setting, persons: _Persons, parties: _Parties, banks: _Banks):
    """Current accounts for everyone, savings for some, wallets (most of the diaspora), business
    and merchant accounts, and each bank's cash account; with each party's main account and
    wallet."""
    def pick(owner_country: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
        return _pick_bank(s.rng, banks.country, banks.kind, owner_country, kinds, s.n_countries)

    n_parties = parties.id.size
    accounts = _AccountList()
    main_account = np.full(n_parties, -1, dtype=np.int64)
    wallet_account = np.full(n_parties, -1, dtype=np.int64)
    everyone = parties.persons
    got, pos = accounts.add(everyone, pick(persons.country, ("bank",)), "current")
    main_account[got] = pos
    saver = everyone[s.rng.random(everyone.size) < 0.3]
    accounts.add(saver, pick(persons.country[saver], ("bank",)), "savings")
    wallet_p = np.where(persons.origin >= 0, 0.85, s.scenario.population.wallet_share)
    holders = everyone[s.rng.random(everyone.size) < wallet_p]
    got, pos = accounts.add(
        holders, pick(persons.country[holders], ("money_services", "payment_app")), "wallet")
    wallet_account[got] = pos
    non_bank = parties.businesses[: parties.businesses.size - banks.id.size]
    kind = np.where(parties.sector[non_bank] == "general", "business", "merchant")
    for k in ("business", "merchant"):
        rows = non_bank[kind == k]
        got, pos = accounts.add(rows, pick(parties.country[rows], ("bank",)), k)
        main_account[got] = pos
    got, bank_cash_account = accounts.add(parties.banks, np.arange(banks.id.size), "cash")
    main_account[got] = bank_cash_account
    return accounts, main_account, wallet_account, bank_cash_account


def build_world(scenario: Scenario) -> World:
    """Build the static world of a scenario (deterministic in the scenario and its seed): banks,
    persons with households, businesses, then their accounts, each step drawing from one seeded
    generator in this order."""
    s = _setting(scenario)
    banks = _banks(s)
    persons = _persons(s)
    biz = _businesses(s, persons.country, banks)
    parties = _parties(s, persons, biz, banks.id.size)
    accounts, main_account, wallet_account, bank_cash_account = _accounts(s, persons, parties,
                                                                           banks)
    n_acc = accounts.n
    start = dt.datetime.combine(scenario.period.start, dt.time(), dt.UTC).timestamp()
    opened = (int(start) - s.rng.integers(30, 15 * 365, size=n_acc) * 86_400
              - s.rng.integers(0, 86_400, n_acc))
    sigma = scenario.population.activity_sigma
    activity = s.rng.lognormal(-0.5 * sigma**2, sigma, size=n_acc)
    return World(
        scenario=scenario,
        country_codes=s.codes,
        bank_id=banks.id,
        bank_name=banks.name,
        bank_country=banks.country,
        bank_kind=banks.kind,
        party_id=parties.id,
        party_kind=parties.kind,
        party_name=parties.name,
        party_country=parties.country,
        party_household=parties.household,
        party_sector=parties.sector,
        persons=parties.persons,
        age=persons.age,
        sex=persons.sex,
        origin=persons.origin,
        account_id=opaque_ids(s.rng, n_acc),
        acc_party=np.concatenate(accounts.party),
        acc_bank=np.concatenate(accounts.bank),
        acc_kind=np.concatenate(accounts.kind),
        acc_opened=opened.astype(np.int64),
        activity=activity,
        main_account=main_account,
        wallet_account=wallet_account,
        bank_cash_account=bank_cash_account,
        employers=parties.employers,
        merchants=parties.merchants,
    )
