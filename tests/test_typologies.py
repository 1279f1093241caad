"""Every typology plugin: a conformance suite over the registry, then a check per pattern shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import finlab
import finlab.typologies  # registers the shipped plugins
from finlab.config import TypologySpec
from finlab.generate import generate
from finlab.rng import generator
from finlab.typologies import (  # noqa: F401  (plugins register on import)
    bipartite,
    cash_businesses,
    cycle,
    fan_in,
    fan_out,
    gather_scatter,
    layering_chain,
    marketplace_sellers,
    mule_passthrough,
    romance_victims,
    round_tripping,
    scatter_gather,
    sextortion_payments,
    stack,
    structuring,
)
from finlab.typologies.base import TYPOLOGIES
from finlab.world.population import build_world

NAMES = TYPOLOGIES.names()
SUSPICIOUS = [n for n in NAMES if not TYPOLOGIES.get(n).look_alike]
ROLES = {"sender", "facilitator", "intermediary", "mule", "collector", "victim", "source", "sink"}
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)


def scenario_for(base, name: str, seed: int | None = None):
    sc = base.model_copy(update={"typologies": [TypologySpec(name=name, count=2)]})
    return sc if seed is None else sc.model_copy(update={"seed": seed})


@pytest.fixture(scope="module")
def dataset_dir(tiny_scenario, tmp_path_factory):
    """The tiny world with one typology (two cases), generated once per typology."""
    made = {}

    def get(name: str):
        if name not in made:
            made[name] = generate(scenario_for(tiny_scenario, name),
                                  tmp_path_factory.mktemp(name) / "world")
        return made[name]

    return get


@pytest.fixture(scope="module")
def data(dataset_dir):
    """(dataset, transactions joined with their labels and account facts) per typology."""
    loaded = {}

    def get(name: str):
        if name not in loaded:
            ds = finlab.load(dataset_dir(name))
            acc = ds.accounts.set_index("account_id")
            tx = ds.transactions.merge(ds.labels.transactions, on="txn_id")
            for side in ("src", "dst"):
                kind = acc["kind"].astype(str).reindex(tx[f"{side}_account"])
                tx[f"{side}_kind"] = kind.to_numpy()
            tx["typology"] = tx["typology"].astype(object)
            tx["channel"] = tx["channel"].astype(str)
            loaded[name] = (ds, tx)
        return loaded[name]

    return get


def label_of(name: str) -> str:
    cls = TYPOLOGIES.get(name)
    return f"decoy:{name}" if cls.look_alike else name


def labelled(data, name: str) -> pd.DataFrame:
    _, tx = data(name)
    return tx[tx["typology"] == label_of(name)].sort_values("ts", kind="stable")


def roles_of(data, name: str) -> pd.DataFrame:
    ds, _ = data(name)
    r = ds.labels.accounts
    mine = r[r["typology"].astype(str) == label_of(name)]
    return mine.assign(role=mine["role"].astype(str))


def per_case(data, name: str):
    """(case id, its payments in time order, its roles) for every case of the typology."""
    tx, roles = labelled(data, name), roles_of(data, name)
    for cid, group in tx.groupby("case_id"):
        yield int(cid), group.sort_values("ts", kind="stable"), roles[roles["case_id"] == cid]


# ---- conformance, for every registered typology ------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_description_and_parameter_docs(name):
    cls = TYPOLOGIES.get(name)
    assert cls.__doc__ and len(cls.__doc__.strip().splitlines()) == 1
    for field, info in cls.Params.model_fields.items():
        assert info.description, f"{name}.{field} has no description"


@pytest.mark.parametrize("name", NAMES)
def test_output_validates(name, data):
    ds, _ = data(name)
    assert ds.validate() == []
    mine = labelled(data, name)
    assert len(mine) > 0
    start = pd.Timestamp("2025-01-01", tz="UTC")
    assert mine["ts"].min() >= start and mine["ts"].max() < start + 30 * DAY
    assert (mine["amount"] > 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output_other_seed_differs(name, tiny_scenario, dataset_dir, data, tmp_path):
    first = dataset_dir(name)
    again = generate(scenario_for(tiny_scenario, name), tmp_path / "again")
    parts = [p.relative_to(first).as_posix() for table in ("transactions", "labels/transactions")
             for p in sorted((first / table).iterdir())]
    for rel in (*parts, "labels/accounts.parquet", "labels/cases.parquet"):
        assert (again / rel).read_bytes() == (first / rel).read_bytes(), rel
    other = finlab.load(generate(scenario_for(tiny_scenario, name, seed=11), tmp_path / "other"))
    lt = other.labels.transactions
    ids = lt.loc[lt["typology"].astype(object) == label_of(name), "txn_id"]
    amounts = other.transactions.set_index("txn_id").loc[ids, "amount_base"]
    assert sorted(amounts.round(2)) != sorted(labelled(data, name)["amount_base"].round(2))


@pytest.mark.parametrize("name", NAMES)
def test_plan_does_not_mutate_the_world(name, tiny_scenario, world_guard):
    world = build_world(scenario_for(tiny_scenario, name))
    unchanged = world_guard(world)
    typology = TYPOLOGIES.get(name)()
    cases = typology.plan(world, generator(3, "typology", name), np.array([1, 2], np.int64))
    assert len(cases.events) + sum(len(s) for s in cases.streams) > 0
    unchanged()


@pytest.mark.parametrize("name", NAMES)
def test_labels_mark_exactly_the_injected_payments(name, data):
    ds, tx = data(name)
    suspicious = set(tx.loc[tx["is_suspicious"], "txn_id"])
    assert suspicious == set(tx.loc[tx["case_id"].notna(), "txn_id"])
    roles = roles_of(data, name)
    cases = ds.labels.cases
    if TYPOLOGIES.get(name).look_alike:
        assert not suspicious
        assert len(cases) == 0 and roles["case_id"].isna().all()
        assert (roles["role"] == label_of(name)).all() and len(roles) > 0
        assert labelled(data, name)["case_id"].isna().all()
        return
    assert set(roles["role"]) <= ROLES
    mine = cases[cases["typology"].astype(str) == name]
    assert len(mine) == 2
    flagged = tx[tx["is_suspicious"]]
    assert set(flagged["case_id"].astype(int)) <= set(mine["case_id"])
    assert set(flagged["typology"]) <= {name}
    counted = flagged.groupby("case_id").size()
    for _, row in mine.iterrows():
        assert counted.get(row["case_id"], 0) == row["n_transactions"] >= 1


@pytest.mark.parametrize("name", SUSPICIOUS)
def test_every_account_of_a_case_has_a_role_in_it(name, data):
    """Accounts of a case's payments are listed in labels/accounts for that case (a bank's cash
    account, the counterpart of deposits and withdrawals, is the bank's and never labelled)."""
    for cid, group, case_roles in per_case(data, name):
        accounts = set(group.loc[group["src_kind"] != "cash", "src_account"]) | set(
            group.loc[group["dst_kind"] != "cash", "dst_account"])
        assert accounts <= set(case_roles["account_id"]), cid


@pytest.mark.parametrize("name", NAMES)
def test_parameters_round_trip_through_yaml(name):
    params = TYPOLOGIES.get(name).Params
    text = yaml.safe_dump(params().model_dump(mode="json"))
    assert params.model_validate(yaml.safe_load(text)) == params()


def test_unknown_or_disordered_parameters_are_refused():
    with pytest.raises(Exception, match="extra"):
        TYPOLOGIES.get("cycle")({"lenght": (3, 4)})
    with pytest.raises(Exception, match="low end"):
        TYPOLOGIES.get("fan_in")({"degree": (9, 3)})
    with pytest.raises(Exception, match="below the threshold"):
        TYPOLOGIES.get("structuring")({"deposit_amount": (9_000, 12_000)})


# ---- one check per pattern shape -----------------------------------------------------------

def assert_walk(group: pd.DataFrame) -> None:
    """Each payment starts where the previous one ended, strictly later."""
    assert (group["src_account"].to_numpy()[1:] == group["dst_account"].to_numpy()[:-1]).all()
    assert group["ts"].is_monotonic_increasing and group["ts"].is_unique


def assert_time_respecting(group: pd.DataFrame, roles: pd.DataFrame) -> None:
    """No intermediary pays out before it has been paid."""
    for acc in roles.loc[roles["role"] == "intermediary", "account_id"]:
        received = group.loc[group["dst_account"] == acc, "ts"]
        sent = group.loc[group["src_account"] == acc, "ts"]
        assert len(received) and len(sent) and sent.min() > received.min()


def test_cycle_is_closed_in_time_order(data):
    for _, g, roles in per_case(data, "cycle"):
        assert_walk(g)
        assert g["dst_account"].iloc[-1] == g["src_account"].iloc[0]
        assert g["src_account"].nunique() == len(g) >= 3
        assert (g["amount_base"].diff().dropna() < 0).all()  # a fee at every hop
        assert_time_respecting(g, roles)


@pytest.mark.parametrize("name, hub_side", [("fan_in", "dst"), ("fan_out", "src")])
def test_fan_has_one_hub_and_many_leaves(data, name, hub_side):
    leaf_side = "src" if hub_side == "dst" else "dst"
    low = TYPOLOGIES.get(name).Params().degree[0]
    for _, g, roles in per_case(data, name):
        assert g[f"{hub_side}_account"].nunique() == 1
        assert g[f"{leaf_side}_account"].nunique() >= low
        hub_role = "sink" if hub_side == "dst" else "source"
        assert (roles["role"] == hub_role).sum() == 1


def test_scatter_gather_splits_then_joins(data):
    for _, g, roles in per_case(data, "scatter_gather"):
        source = roles.loc[roles["role"] == "source", "account_id"].item()
        sink = roles.loc[roles["role"] == "sink", "account_id"].item()
        middle = set(roles.loc[roles["role"] == "intermediary", "account_id"])
        assert set(g.loc[g["src_account"] == source, "dst_account"]) == middle
        assert set(g.loc[g["dst_account"] == sink, "src_account"]) == middle
        assert_time_respecting(g, roles)


def test_gather_scatter_hub_pays_out_after_collecting(data):
    for _, g, roles in per_case(data, "gather_scatter"):
        hub = roles.loc[roles["role"] == "intermediary", "account_id"].item()
        inflow, outflow = g[g["dst_account"] == hub], g[g["src_account"] == hub]
        assert len(inflow) + len(outflow) == len(g) and len(inflow) >= 3 and len(outflow) >= 3
        assert outflow["ts"].min() > inflow["ts"].max()


def test_bipartite_sources_only_send_and_sinks_only_receive(data):
    for _, g, roles in per_case(data, "bipartite"):
        sources = set(roles.loc[roles["role"] == "source", "account_id"])
        sinks = set(roles.loc[roles["role"] == "sink", "account_id"])
        assert set(g["src_account"]) == sources and set(g["dst_account"]) == sinks
        assert not sources & sinks


def test_stack_flows_layer_by_layer(data):
    for _, g, roles in per_case(data, "stack"):
        assert_time_respecting(g, roles)
        sources = set(roles.loc[roles["role"] == "source", "account_id"])
        assert not sources & set(g["dst_account"])
        middle = roles.loc[roles["role"] == "intermediary", "account_id"]
        for acc in middle:  # complete bipartite between consecutive layers
            assert (g["dst_account"] == acc).sum() == len(sources)


def test_layering_chain_is_a_walk_that_loses_a_fee_per_hop(data):
    for _, g, roles in per_case(data, "layering_chain"):
        assert_walk(g)
        assert (g["src_account"] != g["dst_account"]).all()
        assert (g["amount_base"].diff().dropna() < 0).all()
        assert g["src_account"].iloc[0] in set(roles.loc[roles["role"] == "source", "account_id"])


def test_structuring_deposits_stay_below_the_threshold(data):
    p = TYPOLOGIES.get("structuring").Params()
    for _, g, roles in per_case(data, "structuring"):
        deposits, rest = g[g["channel"] == "cash"], g[g["channel"] != "cash"]
        assert len(deposits) >= p.deposits[0] and (deposits["src_kind"] == "cash").all()
        assert (deposits["amount_base"] < p.threshold).all()
        assert (deposits["amount_base"] >= p.deposit_amount[0] * 0.999).all()
        mule = roles.loc[roles["role"] == "mule", "account_id"].item()
        assert (deposits["dst_account"] == mule).all()
        assert len(rest) == 1 and rest["src_account"].item() == mule
        assert rest["ts"].item() > deposits["ts"].max()
        assert rest["amount_base"].item() > deposits["amount_base"].max()


def test_mule_forwards_within_hours(data):
    for _, g, roles in per_case(data, "mule_passthrough"):
        mule = roles.loc[roles["role"] == "mule", "account_id"].item()
        inbound = (g["dst_account"] == mule).to_numpy()
        assert inbound[::2].all() and not inbound[1::2].any() and len(g) % 2 == 0
        ins, outs = g.iloc[::2], g.iloc[1::2]
        delay = outs["ts"].reset_index(drop=True) - ins["ts"].reset_index(drop=True)
        assert (delay > pd.Timedelta(0)).all() and (delay <= 24 * HOUR).all()
        assert (outs["amount_base"].to_numpy() < ins["amount_base"].to_numpy()).all()


def test_round_trip_returns_from_another_foreign_account(data):
    for _, g, _ in per_case(data, "round_tripping"):
        assert len(g) == 3
        assert_walk(g)
        origin = g["src_account"].iloc[0]
        assert g["dst_account"].iloc[-1] == origin
        assert g["src_account"].iloc[-1] != g["dst_account"].iloc[0]
        home = g["src_country"].iloc[0]
        assert (g["dst_country"].iloc[:2].astype(str) != home).all()


def test_sextortion_bursts_are_short_rising_and_stop(data):
    ds, tx = data("sextortion_payments")
    p = TYPOLOGIES.get("sextortion_payments").Params()
    ages = ds.labels.party_attributes.set_index("party_id")["age"]
    owner = ds.accounts.set_index("account_id")["party_id"]
    for _, g, roles in per_case(data, "sextortion_payments"):
        collector = roles.loc[roles["role"] == "collector", "account_id"].item()
        assert (g["dst_account"] == collector).all()
        for victim, burst in g.groupby("src_account"):
            assert p.payments[0] <= len(burst) <= p.payments[1]
            assert burst["ts"].max() - burst["ts"].min() <= 10 * DAY
            amounts = burst["amount_base"].to_numpy()
            assert amounts[0] < 250 * 1.01 and amounts.max() <= 1_500 * 1.01
            assert (np.diff(amounts) >= -0.02).all()
            assert ages[owner[victim]] < 30
            # nothing more from this victim to the extortioner: the burst stops abruptly
            paid = (tx["src_account"] == victim) & (tx["dst_account"] == collector)
            assert paid.sum() == len(burst)
        assert (g["src_country"].astype(str) != g["dst_country"].astype(str)).all()


def test_romance_victims_pay_one_foreign_contact_rising_sums(data):
    for _, g in labelled(data, "romance_victims").groupby("src_account"):
        assert g["dst_account"].nunique() == 1
        assert (g["src_country"].astype(str) != g["dst_country"].astype(str)).all()
        assert g["amount_base"].iloc[-1] > g["amount_base"].iloc[0]
        assert g["amount_base"].max() >= 1_000


def test_cash_businesses_deposit_regularly_below_the_threshold(data):
    g = labelled(data, "cash_businesses")
    assert (g["channel"] == "cash").all() and (g["src_kind"] == "cash").all()
    assert (g["amount_base"] < 10_000).all()
    assert set(g["dst_kind"]) <= {"business", "merchant"}
    weeks = g.groupby("dst_account")["ts"].apply(lambda t: t.dt.isocalendar().week.nunique())
    assert (weeks >= 3).all()


def test_marketplace_sellers_receive_small_sums_from_many_buyers(data):
    g = labelled(data, "marketplace_sellers")
    buyers = g.groupby("dst_account")["src_account"].nunique()
    assert len(buyers) == 2 and (buyers >= 5).all()
    assert g["amount_base"].median() < 200


def test_a_look_alike_listed_before_a_typology(tiny_scenario, tmp_path):
    sc = tiny_scenario.model_copy(update={"typologies": [
        TypologySpec(name="romance_victims", count=2), TypologySpec(name="fan_in", count=2)]})
    ds = finlab.load(generate(sc, tmp_path / "mixed"))
    assert ds.validate() == []
    cases = ds.labels.cases
    assert len(cases) == 2 and set(cases["typology"].astype(str)) == {"fan_in"}
