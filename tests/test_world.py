"""The classroom world as a detector sees it: no label leakage by construction, a heavy tail of
activity, a daily rhythm in local time, and family remittances to relatives abroad."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import finlab
from finlab.schema import CHANNELS, OBSERVABLES


@pytest.fixture(scope="session")
def classroom(classroom_scenario, tmp_path_factory):
    from finlab.generate import generate

    out = generate(classroom_scenario, tmp_path_factory.mktemp("classroom") / "world")
    return finlab.load(out)


@pytest.fixture(scope="session")
def owners(classroom) -> pd.DataFrame:
    """accounts joined with their owner: account_id -> party_id, kind, party kind, household."""
    p = classroom.parties[["party_id", "kind", "country", "household_id"]].rename(
        columns={"kind": "party_kind", "country": "party_country"})
    acc = classroom.accounts[["account_id", "party_id", "kind", "country"]]
    out = acc.merge(p, on="party_id", how="left", validate="many_to_one")
    for col in ("party_kind", "party_country", "kind", "country"):
        out[col] = out[col].astype(str)
    return out.set_index("account_id")


@pytest.fixture(scope="session")
def diaspora(classroom) -> pd.DataFrame:
    """Persons whose household has members in another country (family abroad)."""
    p = classroom.parties
    persons = p[p["kind"].astype(str) == "person"]
    persons = persons.assign(country=persons["country"].astype(str))
    countries = persons.groupby("household_id")["country"].nunique()
    spread = countries[countries > 1].index
    return persons[persons["household_id"].isin(spread)]


def ks_uniform(u: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between values in [0, 1] and the uniform distribution."""
    u = np.sort(np.asarray(u, dtype=float))
    n = u.size
    i = np.arange(1, n + 1)
    return float(max((i / n - u).max(), (u - (i - 1) / n).max()))


def assert_ids_spread(ids: pd.Series, groups: dict[str, np.ndarray], min_size: int = 30) -> None:
    """Each group's ids must be spread like a random sample of all ids (KS test at 0.1 %)."""
    rank = ids.rank(method="first").to_numpy()
    pct = (rank - 0.5) / len(ids)
    checked = 0
    for name, mask in groups.items():
        n = int(mask.sum())
        if n < min_size or n == len(ids):
            continue
        d = ks_uniform(pct[mask])
        assert d < 1.95 / np.sqrt(n), f"{name}: ids concentrated (KS {d:.3f}, n={n})"
        checked += 1
    assert checked >= 2, "too few groups to compare"


# --- no label leakage by construction ------------------------------------------------------------


def test_party_ids_say_nothing_about_the_party(classroom, diaspora):
    p = classroom.parties
    kind = p["kind"].astype(str).to_numpy()
    country = p["country"].astype(str).to_numpy()
    sector = p["sector"].astype(str).to_numpy()
    is_diaspora = p["party_id"].isin(diaspora["party_id"]).to_numpy()
    risk = classroom.countries.set_index(classroom.countries["country"].astype(str))["risk"]
    high = pd.Series(country).map(risk.astype(str)).to_numpy() == "high"
    groups = {
        "persons": kind == "person",
        "businesses": kind == "business",
        "diaspora persons": is_diaspora,
        "diaspora persons in the host country": is_diaspora & ~high,
        "diaspora relatives in the origin country": is_diaspora & high,
        "persons in high-risk countries": (kind == "person") & high,
        **{f"sector {s}": sector == s for s in np.unique(sector)},
        **{f"country {c}": country == c for c in np.unique(country)},
    }
    assert groups["diaspora persons"].sum() >= 30
    assert_ids_spread(p["party_id"], groups)
    # the id ranges of persons and businesses overlap
    persons, businesses = p.loc[kind == "person", "party_id"], p.loc[kind == "business", "party_id"]
    assert businesses.min() < persons.max() and persons.min() < businesses.max()


def test_account_ids_say_nothing_about_the_account(classroom, owners):
    acc = classroom.accounts
    o = owners.loc[acc["account_id"]]
    kind = o["kind"].to_numpy()
    groups = {
        "person accounts": (o["party_kind"] == "person").to_numpy(),
        "business accounts": (o["party_kind"] == "business").to_numpy(),
        **{f"kind {k}": kind == k for k in np.unique(kind)},
    }
    assert_ids_spread(acc["account_id"], groups)


def test_household_ids_say_nothing_about_family_abroad(classroom, diaspora):
    p = classroom.parties
    households = p[p["kind"].astype(str) == "person"].drop_duplicates("household_id")
    abroad = households["household_id"].isin(diaspora["household_id"]).to_numpy()
    assert_ids_spread(households["household_id"], {"abroad": abroad, "home": ~abroad},
                      min_size=20)


def test_txn_ids_say_nothing_about_the_channel(classroom):
    tx = classroom.transactions
    channel = tx["channel"].astype(str).to_numpy()
    assert_ids_spread(tx["txn_id"], {c: channel == c for c in np.unique(channel)})


def test_static_tables_are_ordered_by_id(classroom):
    assert classroom.parties["party_id"].is_monotonic_increasing
    assert classroom.parties["party_id"].is_unique
    assert classroom.accounts["account_id"].is_monotonic_increasing
    assert classroom.accounts["account_id"].is_unique
    banks = classroom.banks["bank_id"].astype(str).tolist()
    assert banks == sorted(banks) and len(set(banks)) == len(banks)


def test_transactions_are_ordered_by_time(classroom):
    assert classroom.transactions["ts"].is_monotonic_increasing


def test_timestamps_have_second_granularity(classroom):
    for name, col in (("transactions", "ts"), ("accounts", "opened_at")):
        ts = classroom.table(name)[col]
        assert (ts == ts.dt.floor("s")).all(), f"{name}.{col}"


def test_amounts_have_at_most_two_decimals_on_every_channel(classroom):
    tx = classroom.transactions
    assert set(tx["channel"].astype(str)) == set(CHANNELS), "every channel should occur"
    for ch, rows in tx.groupby(tx["channel"].astype(str), observed=True):
        for col in ("amount", "amount_base"):
            a = rows[col].to_numpy()
            cents = a * 100
            assert np.all(np.abs(cents - np.round(cents)) < 1e-6 * np.maximum(1, cents)), (ch, col)


def test_no_missing_observables(classroom):
    for name in OBSERVABLES:
        df = classroom.table(name)
        for col in df.columns:
            if (name, col) == ("parties", "household_id"):
                continue
            assert not df[col].isna().any(), f"{name}.{col} has missing values"
    p = classroom.parties
    missing = p["household_id"].isna()
    business = p["kind"].astype(str) == "business"
    assert not (missing & ~business).any(), "every person has a household"
    # a business has no household, or one of its own that no person shares
    person_households = set(p.loc[~business, "household_id"])
    assert not p.loc[business & ~missing, "household_id"].isin(person_households).any()


def test_every_kind_of_party_uses_the_same_formats(classroom):
    """Names are text for everyone; ids are positive int64 of comparable magnitude."""
    p = classroom.parties
    for kind, rows in p.groupby(p["kind"].astype(str), observed=True):
        names = rows["name"].astype(str)
        assert (names.str.len() > 0).all(), kind
        assert (rows["party_id"] > 0).all(), kind
    acc = classroom.accounts
    assert (acc["account_id"] > 0).all()


# --- heavy tail -------------------------------------------------------------------------------


def _top_decile_share(tx: pd.DataFrame, accounts: pd.Index) -> float:
    made = tx["src_account"].value_counts().reindex(accounts, fill_value=0)
    made = made.sort_values(ascending=False)
    top = int(np.ceil(0.1 * len(made)))
    return float(made.iloc[:top].sum() / made.sum())


def test_a_few_accounts_make_many_payments(classroom, owners):
    tx = classroom.transactions
    person_accounts = owners.index[owners["party_kind"] == "person"]
    assert _top_decile_share(tx, person_accounts) > 0.25
    # also among the everyday current accounts alone (not just savings accounts paying nothing)
    current = owners.index[(owners["party_kind"] == "person") & (owners["kind"] == "current")]
    assert _top_decile_share(tx, current) > 0.2


def test_the_tail_comes_from_activity_spread(classroom_scenario, classroom, owners, tmp_path):
    """Without the log-normal activity spread the top decile's share drops clearly."""
    from finlab.generate import generate

    sc = classroom_scenario
    flat = sc.model_copy(update={
        "population": sc.population.model_copy(update={"activity_sigma": 0.0})})
    ds = finlab.load(generate(flat, tmp_path / "flat"))
    p = ds.parties[["party_id", "kind"]]
    acc = ds.accounts.merge(p, on="party_id")
    current = pd.Index(acc.loc[(acc["kind_y"].astype(str) == "person")
                               & (acc["kind_x"].astype(str) == "current"), "account_id"])
    flat_share = _top_decile_share(ds.transactions, current)
    tail = owners.index[(owners["party_kind"] == "person") & (owners["kind"] == "current")]
    assert _top_decile_share(classroom.transactions, tail) > 1.5 * flat_share


# --- local-time rhythm ----------------------------------------------------------------------------


def _local_hour(classroom, tx: pd.DataFrame) -> np.ndarray:
    c = classroom.countries
    offset = pd.Series(c["utc_offset"].to_numpy(float), index=c["country"].astype(str))
    off = tx["src_country"].astype(str).map(offset).to_numpy()
    utc = tx["ts"].dt.hour.to_numpy() + tx["ts"].dt.minute.to_numpy() / 60
    return np.floor((utc + off) % 24).astype(int)


def test_card_payments_follow_local_daytime(classroom):
    tx = classroom.transactions
    card = tx[tx["channel"].astype(str) == "card"]
    hour = _local_hour(classroom, card)
    per_hour = np.bincount(hour, minlength=24)
    night = per_hour[2:5].mean()  # 02:00-05:00
    day = per_hour[11:19].mean()  # 11:00-19:00
    assert day > 0 and night < 0.1 * day, per_hour


def test_rhythm_is_local_in_every_country(classroom):
    """Countries from UTC-5 to UTC+8: the quiet night is at local night in each of them."""
    tx = classroom.transactions
    card = tx[tx["channel"].astype(str) == "card"]
    hour = _local_hour(classroom, card)
    country = card["src_country"].astype(str).to_numpy()
    checked = 0
    for c in np.unique(country):
        h = hour[country == c]
        if h.size < 1000:
            continue
        per_hour = np.bincount(h, minlength=24)
        assert per_hour[2:5].mean() < 0.15 * per_hour[11:19].mean(), (c, per_hour)
        checked += 1
    offsets = set(classroom.countries["utc_offset"].astype(float))
    assert checked >= 3 and len(offsets) >= 3


# --- family remittances ---------------------------------------------------------------------------


def test_diaspora_send_money_to_their_household_abroad(classroom, owners, diaspora):
    tx = classroom.transactions
    src = owners.reindex(tx["src_account"].to_numpy())
    dst = owners.reindex(tx["dst_account"].to_numpy())
    from_diaspora = np.isin(src["party_id"].to_numpy(), diaspora["party_id"].to_numpy())
    cross = tx["src_country"].astype(str).to_numpy() != tx["dst_country"].astype(str).to_numpy()
    to_person = dst["party_kind"].to_numpy() == "person"
    sel = from_diaspora & cross & to_person
    assert sel.sum() >= 50, "diaspora persons should send cross-border transfers to persons"
    same = src["household_id"].to_numpy()[sel] == dst["household_id"].to_numpy()[sel]
    assert same.mean() > 0.8
    # a meaningful share of the diaspora sends, and they send through transfer channels
    senders = set(src["party_id"].to_numpy()[sel])
    assert len(senders) >= 0.3 * len(diaspora) / 2
    channels = set(tx["channel"].astype(str).to_numpy()[sel])
    assert channels <= {"remittance", "transfer", "p2p_app"} and "remittance" in channels


def test_remittances_flow_from_host_to_origin_countries(classroom, owners, diaspora,
                                                        classroom_scenario):
    """Money goes from where the sender lives to a country the scenario names as an origin."""
    tx = classroom.transactions
    src = owners.reindex(tx["src_account"].to_numpy())
    dst = owners.reindex(tx["dst_account"].to_numpy())
    from_diaspora = np.isin(src["party_id"].to_numpy(), diaspora["party_id"].to_numpy())
    same_household = src["household_id"].to_numpy() == dst["household_id"].to_numpy()
    cross = tx["src_country"].astype(str).to_numpy() != tx["dst_country"].astype(str).to_numpy()
    sel = from_diaspora & same_household & cross
    corridors = {(d.host, d.origin) for d in classroom_scenario.population.diaspora}
    pairs = set(zip(tx["src_country"].astype(str).to_numpy()[sel],
                    tx["dst_country"].astype(str).to_numpy()[sel]))
    assert pairs and pairs <= corridors, pairs - corridors
