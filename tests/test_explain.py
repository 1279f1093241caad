"""finlab explain: the subgraph selection (hops, window, folding) on hand-built payments, the page
with and without labels, every bad input of the command, and the report's Alerts section."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import finlab
from finlab.errors import InputError
from finlab.explain.draw import LOOK_ALIKE, PLAIN, ROLE_COLOURS
from finlab.explain.subgraph import HEAVY_BUSINESS, Flows, select

runner = CliRunner()
DAY = 86_400


def flows(rows, n):
    """Flows from (payer, payee, day, amount) tuples, in time order."""
    rows = sorted(rows, key=lambda r: r[2])
    src, dst, day, amount = (np.asarray(c) for c in zip(*rows, strict=True))
    return Flows(src.astype(np.int64), dst.astype(np.int64), (day * DAY).astype(np.int64),
                 amount.astype(np.float64), n)


def accounts_of(sub, kind=("centre", "account")):
    nodes = sub.nodes
    return set(nodes.loc[nodes["kind"].isin(kind), "account"].astype(int))


# --- the subgraph ------------------------------------------------------------------------------

def test_hops_follow_money_both_ways_and_stop_at_the_limit():
    # 0 is paid by 1, pays 2; 2 pays 3; 3 pays 4; 5 pays 1
    f = flows([(1, 0, 1, 50.0), (0, 2, 2, 40.0), (2, 3, 3, 30.0), (3, 4, 4, 20.0),
               (5, 1, 5, 10.0)], 6)
    assert accounts_of(select(f, [0], 1)) == {0, 1, 2}
    two = select(f, [0], 2)
    assert accounts_of(two) == {0, 1, 2, 3, 5}
    assert accounts_of(select(f, [0], 3)) == {0, 1, 2, 3, 4, 5}
    nodes = two.nodes.set_index("account")
    assert nodes.loc[1, "side"] == -1 and nodes.loc[5, "side"] == -1  # the payer side
    assert nodes.loc[2, "side"] == 1 and nodes.loc[3, "side"] == 1  # the payee side
    assert nodes.loc[3, "hop"] == 2 and nodes.loc[0, "kind"] == "centre"
    edges = two.edges.assign(s=lambda e: two.nodes["account"].to_numpy()[e["src"]],
                             d=lambda e: two.nodes["account"].to_numpy()[e["dst"]])
    assert set(zip(edges["s"], edges["d"], strict=True)) == {(1, 0), (0, 2), (2, 3), (5, 1)}


def test_edges_count_payments_and_keep_their_date_range():
    f = flows([(1, 0, 3, 10.0), (1, 0, 9, 15.0), (1, 0, 5, 5.0), (0, 2, 4, 7.0)], 3)
    sub = select(f, [0], 1)
    e = sub.edges.set_index(["src", "dst"])
    n1, n0 = sub.node_of[1], sub.node_of[0]
    assert e.loc[(n1, n0), "count"] == 3 and e.loc[(n1, n0), "amount"] == 30.0
    assert e.loc[(n1, n0), "first"] == 3 * DAY and e.loc[(n1, n0), "last"] == 9 * DAY


def test_window_keeps_only_its_payments():
    f = flows([(1, 0, 1, 50.0), (2, 0, 10, 40.0), (0, 3, 20, 30.0)], 4)
    inside = f.rows(5 * DAY, 15 * DAY)
    assert accounts_of(select(inside, [0], 2)) == {0, 2}
    assert accounts_of(select(f.rows(0, 30 * DAY), [0], 2)) == {0, 1, 2, 3}


def test_heavy_counterparties_fold_per_sector_and_are_not_walked_through():
    # 0 pays merchants 1 and 2 (same sector) and merchant 3 (another); each merchant has many
    # other customers (10..29); person 4 pays 0
    rows = [(0, 1, 1, 20.0), (0, 2, 2, 30.0), (0, 3, 3, 5.0), (4, 0, 4, 100.0)]
    rows += [(c, 1 + c % 3, 5, 1.0) for c in range(10, 10 + 6 * HEAVY_BUSINESS)]
    n = 10 + 6 * HEAVY_BUSINESS
    business = np.zeros(n, bool)
    business[[1, 2, 3]] = True
    sector = np.full(n, -1)
    sector[[1, 2]], sector[3] = 0, 1
    sub = select(flows(rows, n), [0], 2, business=business, sector=sector,
                 sector_names=("groceries", "travel"))
    folded = sub.nodes[sub.nodes["kind"] == "folded"].set_index("group")
    assert folded.loc["groceries", "members"] == 2 and folded.loc["travel", "members"] == 1
    assert sub.node_of[1] == sub.node_of[2] != sub.node_of[3]
    assert accounts_of(sub) == {0, 4}  # the merchants' other customers are not drawn
    assert (sub.node_of[10:] == -1).all()
    # without the business flag a merchant with a few customers is an ordinary account
    plain = select(flows(rows, n), [0], 1)
    assert {1, 2, 3} <= accounts_of(plain)


def test_too_many_accounts_fold_the_smallest_into_more_nodes():
    rows = [(p, 0, 1, float(p)) for p in range(1, 61)]  # 60 payers, payer p pays p
    sub = select(flows(rows, 61), [0], 1, max_nodes=20)
    assert len(sub.nodes) <= 20
    kept = accounts_of(sub, ("account",))
    more = sub.nodes[sub.nodes["kind"] == "more"]
    assert len(more) == 1 and more["members"].iloc[0] == 60 - len(kept)
    assert kept == set(range(61 - len(kept), 61))  # the largest payers are drawn one by one
    assert (sub.node_of[1:61] >= 0).all()  # every payer is in some node


def test_a_case_draws_all_its_accounts():
    f = flows([(1, 2, 1, 10.0), (2, 3, 2, 10.0), (4, 1, 3, 5.0), (3, 5, 4, 5.0)], 6)
    sub = select(f, [1, 2, 3], 1)
    assert set(sub.nodes.loc[sub.nodes["kind"] == "centre", "account"]) == {1, 2, 3}
    assert accounts_of(sub) == {1, 2, 3, 4, 5}


# --- the page ----------------------------------------------------------------------------------

def role_accounts(ds, role):
    la = ds.labels.accounts
    return la.loc[la["role"].astype(str) == role, "account_id"].to_numpy()


def active_facilitator(ds, days=30):
    """A facilitator paid within the last `days` of the data, and its payers in that window."""
    tx = ds.transactions
    recent = tx[tx["ts"] >= tx["ts"].max() - pd.Timedelta(days=days)]
    for fac in role_accounts(ds, "facilitator"):
        payers = recent.loc[recent["dst_account"] == fac, "src_account"].unique()
        if len(payers) >= 3:
            return int(fac), payers
    pytest.fail("no facilitator with recent payers in the tiny world")


def test_page_names_a_facilitators_payers_and_shows_roles(tiny_dataset):
    fac, payers = active_facilitator(tiny_dataset)
    page = finlab.explain(tiny_dataset, account=fac)
    html = page.html
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)  # offline: no external link
    names = tiny_dataset.parties.set_index("party_id")["name"].astype(str)
    owner = tiny_dataset.accounts.set_index("account_id")["party_id"]
    for payer in payers:  # every payer is named, in the payments table at least
        assert names[owner[payer]] in html
    drawn = page.view.nodes
    payer_nodes = drawn[(drawn["kind"] == "account") & (drawn["side"] == -1) & (drawn["hop"] == 1)]
    assert len(payer_nodes) >= min(len(payers), 3)  # the fan-in is drawn account by account
    assert "role: facilitator" in html and "role: sender" in html
    assert page.view.reasons is not None and len(page.view.reasons) > 0
    assert page.view.features["percentile"].between(0, 100).all()


def test_no_word_about_roles_without_labels(tiny_dataset):
    fac, _ = active_facilitator(tiny_dataset)
    html = finlab.explain(tiny_dataset.without_labels(), account=fac).html
    assert "role" not in html.lower() and "decoy:" not in html and "ordinary" not in html
    for colour in (*ROLE_COLOURS.values(), LOOK_ALIKE):  # no node is coloured by its role
        assert colour not in html.lower()
    assert PLAIN in html


def test_a_case_page_draws_every_account_of_the_case(tiny_dataset):
    cases = tiny_dataset.labels.cases
    case = int(cases.loc[cases["typology"].astype(str) == "fan_out", "case_id"].iloc[0])
    page = finlab.explain(tiny_dataset, case=case, detector=None)
    la = tiny_dataset.labels.accounts
    members = set(la.loc[la["case_id"] == case, "account_id"])
    centres = page.view.nodes.loc[page.view.nodes["kind"] == "centre", "account_id"]
    assert set(centres.astype(np.int64)) == members
    assert len(page.view.payments) > 0


# --- bad input ---------------------------------------------------------------------------------

def invoke(*args):
    from finlab.cli import app

    return runner.invoke(app, ["explain", *map(str, args)])


@pytest.mark.parametrize("extra, message", [
    (["--account", "123"], "--account 123: no such account"),
    (["--account", "abc"], "not an account id"),
    (["--case", "987654"], "--case 987654: no such case"),
    (["--account", "ACCOUNT", "--as-of", "2031-01-01"], "--as-of 2031-01-01: outside the data"),
    (["--account", "ACCOUNT", "--as-of", "1999-12-31"], "outside the data"),
    (["--account", "ACCOUNT", "--as-of", "soon"], "not a date"),
    (["--account", "ACCOUNT", "--hops", "4"], "--hops 4: allowed are 1 to 3"),
    (["--account", "ACCOUNT", "--hops", "0"], "--hops 0: allowed are 1 to 3"),
    (["--account", "ACCOUNT", "--days", "0"], "--days 0"),
    (["--account", "ACCOUNT", "--detector", "nope"], "nope"),
    ([], "give exactly one of --account or --case"),
])
def test_bad_input_is_one_line_exit_2_and_no_file(tiny_dataset_dir, tiny_dataset, tmp_path,
                                                   extra, message):
    account = str(int(tiny_dataset.accounts["account_id"].iloc[0]))
    out = tmp_path / "page.html"
    result = invoke(tiny_dataset_dir, "--out", out, *[account if a == "ACCOUNT" else a
                                                     for a in extra])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_case_needs_labels(tiny_dataset):
    with pytest.raises(InputError, match="has no labels"):
        finlab.explain(tiny_dataset.without_labels(), case=1)


def test_existing_page_is_refused_unless_forced(tiny_dataset_dir, tiny_dataset, tmp_path):
    fac, _ = active_facilitator(tiny_dataset)
    out = tmp_path / "page.html"
    first = invoke(tiny_dataset_dir, "--account", fac, "--out", out, "--hops", "1")
    assert first.exit_code == 0, first.output
    written = out.read_text()
    refused = invoke(tiny_dataset_dir, "--account", fac, "--out", out, "--hops", "1")
    assert refused.exit_code == 2 and "already exists; pass --force" in refused.output
    assert out.read_text() == written
    forced = invoke(tiny_dataset_dir, "--account", fac, "--out", out, "--force", "--days", "7")
    assert forced.exit_code == 0, forced.output
    assert out.read_text().startswith("<!DOCTYPE html>") and out.read_text() != written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]  # no temporary left
    mine = tmp_path / "mine.html"
    mine.write_text("not finlab's")  # --force replaces only a page finlab wrote
    other = invoke(tiny_dataset_dir, "--account", fac, "--out", mine, "--force")
    assert other.exit_code == 2 and "was not written by finlab" in other.output
    assert mine.read_text() == "not finlab's"


def test_directory_and_in_memory_dataset_give_the_same_page(tiny_dataset_dir, tiny_dataset):
    fac, _ = active_facilitator(tiny_dataset)
    a = finlab.explain(tiny_dataset_dir, account=fac, hops=1).html
    b = finlab.explain(tiny_dataset, account=fac, hops=1).html
    assert a == b


# --- the report --------------------------------------------------------------------------------

def test_report_has_an_alerts_section_with_pictures_and_reasons(tiny_dataset):
    from finlab.evaluate.experiment import Experiment, evaluate_dataset
    from finlab.evaluate.report import render_report
    from finlab.explain.alerts import BEST_TOP, OTHER_TOP, alerts_html

    exp = Experiment.model_validate({"name": "t", "dataset": "unused", "checkpoints": 1,
                                     "detectors": [{"name": "rules"},
                                                   {"name": "shared_beneficiary"}]})
    runs, split, *_ = evaluate_dataset(exp, tiny_dataset, 0)
    metrics = {"detectors": {r.key: r.metrics for r in runs}}
    views = alerts_html(tiny_dataset, split.end, metrics,
                        {r.key: r.test_scores for r in runs},
                        {r.key: r.explanations for r in runs})
    page = render_report(metrics, {}, None, alert_views=views)
    assert "10. Alerts" in page
    section = page[page.index("10. Alerts"):]
    titles = re.findall(r"<h3 id=\"alert-\d+-(\w+)\">", section)
    aps = {r.key: r.metrics["account"]["average_precision"] for r in runs}
    best = max(aps, key=aps.get)
    other = next(k for k in aps if k != best)
    assert titles[:BEST_TOP] == [best] * BEST_TOP and titles.count(best) == BEST_TOP
    assert 0 < titles.count(other) <= OTHER_TOP
    pictures = section.count("<svg")
    assert 0 < pictures <= len(titles)  # an account alerted twice is drawn once
    assert pictures + section.count("see <a href") == len(titles)
    assert "truly " in section and "Detector <b>rules</b>" in section
    assert "role: " in section  # labelled world: roles coloured, with a legend
