"""The graph neural network detectors (the `gnn` extra): graph building, a planted world, seeds,
no test-period labels in training, explanations, and what a user without the extra sees.

Without torch these tests (but the missing-extra ones) skip with one reason, unless
FINLAB_REQUIRE_GNN=1 (set by .ci/run), where they fail: CI always runs them. The shared
conformance suite in test_detectors.py runs over both detectors whenever the extra is installed.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from finlab.detectors import DETECTORS, make_detector
from finlab.detectors.base import missing_extra
from finlab.errors import InputError

GNNS = ["gnn_accounts", "gnn_edges"]
INSTALL = 'pip install "finlab[gnn]"'
FAST = {"hidden": 16}


@pytest.fixture(scope="module")
def gnn_installed():
    if missing_extra(DETECTORS.get("gnn_edges")) is None:
        return
    if os.environ.get("FINLAB_REQUIRE_GNN") == "1":
        pytest.fail(f"the gnn extra is not installed ({INSTALL}); FINLAB_REQUIRE_GNN=1",
                    pytrace=False)
    pytest.skip(f"the gnn extra is not installed ({INSTALL})")


def test_ci_has_the_extra_when_it_asks_for_it():
    if os.environ.get("FINLAB_REQUIRE_GNN") == "1":
        assert all(missing_extra(DETECTORS.get(n)) is None for n in GNNS)


# --- without the extra ---------------------------------------------------------------------------

@pytest.fixture
def no_torch(monkeypatch):
    """An environment where torch cannot be imported (as after a plain `pip install finlab`)."""
    monkeypatch.setitem(sys.modules, "torch", None)


@pytest.mark.parametrize("name", GNNS)
def test_missing_extra_names_the_install_line(name, no_torch):
    assert missing_extra(DETECTORS.get(name)) == INSTALL
    with pytest.raises(InputError, match=f"detector '{name}' needs the gnn extra: "
                       + INSTALL.replace("[", r"\[").replace("]", r"\]")):
        make_detector(name)


def test_missing_extra_in_the_cli(no_torch, tiny_dataset_dir, tmp_path):
    from finlab.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["list", "detectors", "--json"])
    assert listed.exit_code == 0
    needs = {r["name"]: r["needs"] for r in json.loads(listed.output)}
    assert needs["gnn_edges"] == needs["gnn_accounts"] == INSTALL
    assert needs["gradient_boosting"] == ""
    out = tmp_path / "s.parquet"
    result = runner.invoke(app, ["detect", str(tiny_dataset_dir), "--detector", "gnn_edges",
                                 "--out", str(out)])
    assert result.exit_code == 2
    assert INSTALL in result.output
    assert not out.exists()


# --- the graph ------------------------------------------------------------------------------------

def test_ports_count_counterparties_in_order_of_first_contact():
    from finlab.gnn.graph import ports

    src = np.array([0, 0, 0, 0, 1, 1])
    dst = np.array([5, 7, 5, 6, 5, 5])
    assert ports(src, dst, 8).tolist() == [0, 1, 0, 2, 0, 0]
    assert ports(dst, src, 8).tolist() == [0, 0, 0, 0, 1, 1]


def test_node_inputs_are_rates_over_the_graph_span():
    """The same payments spread over twice the time give half the rates: a graph scored after
    training spans longer than the training graph without its accounts looking busier."""
    from finlab.gnn.graph import build_graph

    def graph(hours):
        tx = pd.DataFrame({
            "txn_id": np.arange(4, dtype=np.int64),
            "ts": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(hours, unit="h"),
            "src_account": np.array([1, 1, 1, 2], np.int64),
            "dst_account": np.array([2, 3, 2, 3], np.int64),
            "amount_base": np.array([10.0, 20.0, 30.0, 40.0])})
        return build_graph(tx, pd.Index(np.arange(4, dtype=np.int64)))

    short, long = graph([0, 24 * 10, 24 * 20, 24 * 30]), graph([0, 24 * 20, 24 * 40, 24 * 60])
    np.testing.assert_allclose(np.expm1(short.node_x), 2 * np.expm1(long.node_x), rtol=1e-5)
    assert np.expm1(short.node_x[1, 0]) == pytest.approx(3.0, rel=1e-5)  # 3 payments in 30 days


def test_sampling_bounds_a_hub_and_keeps_the_seeds():
    from finlab.gnn.graph import build_graph, sample_subgraph
    from finlab.rng import generator

    n = 500
    tx = pd.DataFrame({
        "txn_id": np.arange(n, dtype=np.int64),
        "ts": pd.date_range("2025-01-01", periods=n, freq="h", tz="UTC"),
        "src_account": np.arange(1, n + 1, dtype=np.int64), "dst_account": np.zeros(n, np.int64),
        "amount_base": np.full(n, 10.0)})
    nodes = pd.Index(np.arange(n + 1, dtype=np.int64))
    g = build_graph(tx, nodes)
    sub = sample_subgraph(g, (7, 3), generator(0, "test"), seed_edges=np.array([3]))
    assert 3 in sub.edges[sub.seed_edges]
    assert len(sub.edges) <= 1 + 7 + 3 * 8  # the hub adds at most 7, each leaf at most 3
    assert (g.src[sub.edges] == sub.nodes[sub.src]).all()


# --- with the extra -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted_dir(tiny_scenario, tmp_path_factory):
    """A tiny world whose only suspicious flows are fan-ins and cycles, over 60 days."""
    from finlab.config import TypologySpec
    from finlab.generate import generate

    sc = tiny_scenario.model_copy(update={
        "period": tiny_scenario.period.model_copy(update={"days": 60, "window_days": 20}),
        "typologies": [TypologySpec(name="fan_in", count=8), TypologySpec(name="cycle", count=8)],
    })
    out = tmp_path_factory.mktemp("planted") / "world"
    generate(sc, out)
    return out


@pytest.fixture(scope="module")
def planted(planted_dir):
    import finlab

    return finlab.load(planted_dir)


@pytest.fixture(scope="module")
def planted_split(planted):
    from finlab.evaluate.splits import temporal_split, until

    split = temporal_split(planted, (0.6, 0.2, 0.2))
    return split, until(planted, split.train_end)


def test_fan_in_and_cycle_payments_rank_above_chance(gnn_installed, planted, planted_split):
    """Trained on the first 60% of days, gnn_edges ranks the test period's fan-in and cycle
    payments well above their share, and gnn_accounts their accounts."""
    from sklearn.metrics import average_precision_score

    from finlab.evaluate.metrics import period_transactions
    from finlab.evaluate.splits import period_targets

    split, train = planted_split
    visible = planted.without_labels()
    test = period_transactions(planted, split.validation_end, split.end)
    assert 0 < test["is_suspicious"].sum() < len(test)
    edges = make_detector("gnn_edges", {**FAST, "epochs": 3}).fit(train, train.labels).score(visible)
    y = test["is_suspicious"].to_numpy()
    ap = average_precision_score(y, edges.reindex(test["txn_id"]).to_numpy())
    assert ap > 3 * y.mean(), f"AP {ap:.4f} vs chance {y.mean():.4f}"
    targets = period_targets(planted, split.validation_end, split.end)
    accounts = make_detector("gnn_accounts", FAST).fit(train, train.labels).score(visible)
    ya = targets.y.to_numpy()
    ap = average_precision_score(ya, accounts.reindex(targets.y.index).to_numpy())
    assert ap > 3 * ya.mean(), f"AP {ap:.4f} vs chance {ya.mean():.4f}"


@pytest.mark.parametrize("name", GNNS)
def test_a_seed_repeats_and_another_differs(name, gnn_installed, planted_split):
    _, train = planted_split
    visible = train.without_labels()
    runs = [make_detector(name, {**FAST, "epochs": 1, "seed": s}).fit(train, train.labels)
            for s in (3, 3, 4)]
    a, b, c = (r.score(visible) for r in runs)
    pd.testing.assert_series_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())
    assert runs[0].history_ == runs[1].history_


@pytest.mark.parametrize("name", GNNS)
def test_test_period_labels_never_reach_training(name, gnn_installed, planted, planted_split):
    """Fit on the training period with the full truth, test-period labels flipped, or with the
    truth known at the cutoff: the trained network is the same."""
    split, train = planted_split
    lt = planted.labels.transactions
    later = lt["txn_id"].isin(planted.transactions.loc[
        planted.transactions["ts"] >= split.validation_end, "txn_id"]).to_numpy()
    flipped = lt.assign(is_suspicious=np.where(later, ~lt["is_suspicious"].to_numpy(bool),
                                               lt["is_suspicious"].to_numpy(bool)))
    liar = replace(planted.labels, transactions=flipped)
    honest = make_detector(name, {**FAST, "epochs": 1}).fit(train, train.labels)
    told = make_detector(name, {**FAST, "epochs": 1}).fit(train, liar)
    for (k, v), (k2, v2) in zip(honest.network_.state_dict().items(),
                                told.network_.state_dict().items(), strict=True):
        assert k == k2 and bool((v == v2).all()), k
    assert honest.threshold_ == told.threshold_


def test_validation_is_the_end_of_the_training_period(gnn_installed, planted_split):
    _, train = planted_split
    det = make_detector("gnn_edges", {**FAST, "epochs": 2, "refit": False}).fit(
        train, train.labels)
    ts = train.transactions["ts"]
    assert ts.min() < det.validation_cut_ < ts.max()
    assert [h["epoch"] for h in det.history_] == [0, 1]
    assert np.isfinite(det.threshold_)


def test_refit_trains_as_long_as_validation_chose_on_the_whole_period(gnn_installed,
                                                                      planted_split):
    """The refitted network trains the best validated number of epochs, on every labelled
    payment: labels of the validation fifth change it, and they do not change the network
    validation chose (refit off)."""
    _, train = planted_split
    det = make_detector("gnn_edges", {**FAST, "epochs": 3}).fit(train, train.labels)
    validated = [h for h in det.history_ if not h.get("refit")]
    refit = [h for h in det.history_ if h.get("refit")]
    best = max(range(3), key=lambda e: validated[e]["validation_ap"])
    assert [h["epoch"] for h in validated] == [0, 1, 2]
    assert [h["epoch"] for h in refit] == list(range(best + 1))
    assert np.isfinite(det.threshold_)

    lt = train.labels.transactions
    late = lt["txn_id"].isin(train.transactions.loc[
        train.transactions["ts"] >= det.validation_cut_, "txn_id"]).to_numpy()
    flipped = replace(train.labels, transactions=lt.assign(
        is_suspicious=lt["is_suspicious"].to_numpy(bool) ^ late))

    def weights(params, labels):
        net = make_detector("gnn_edges", {**FAST, "epochs": 1, **params}).fit(train, labels)
        return torch_state(net)

    same = [weights({"refit": False}, lab) for lab in (train.labels, flipped)]
    differ = [weights({}, lab) for lab in (train.labels, flipped)]
    assert all(np.array_equal(a, b) for a, b in zip(*same, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(*differ, strict=True))


def torch_state(det) -> list[np.ndarray]:
    return [v.detach().numpy().copy() for v in det.network_.state_dict().values()]


def test_the_refitted_threshold_flags_the_validated_share(gnn_installed):
    from finlab.gnn.train import share_threshold

    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    weights = np.array([1.0, 1.0, 1.0, 1.0, 6.0])
    assert share_threshold(scores, weights, 0.2) == 4.0     # the top two weigh 2 of 10
    assert share_threshold(scores, weights, 0.05) == 5.0
    assert share_threshold(scores, weights, 0.0) == np.inf
    assert share_threshold(scores, weights, 1.0) == 1.0


def test_explain_names_payments_of_the_scored_neighbourhood(gnn_installed, planted_split):
    _, train = planted_split
    visible = train.without_labels()
    det = make_detector("gnn_edges", {**FAST, "epochs": 1}).fit(train, train.labels)
    top = det.score(visible).nlargest(2).index
    why = det.explain(visible, top)
    assert set(why["id"]) == set(top)
    named = why["reason"].str.extract(r"payment (-?\d+):")[0].astype(np.int64)
    assert named.isin(visible.transactions["txn_id"]).all()
    assert (why["weight"] >= 0).all() and why.groupby("id")["weight"].sum().le(1 + 1e-9).all()


def test_the_model_is_written_for_mlflow(gnn_installed, planted_split, tmp_path):
    import torch

    _, train = planted_split
    det = make_detector("gnn_accounts", {**FAST, "epochs": 1}).fit(train, train.labels)
    saved = torch.load(det.write_model(tmp_path / "model.pt"), weights_only=False)
    assert saved["detector"] == "gnn_accounts"
    assert set(saved["state_dict"]) == set(det.network_.state_dict())


def test_run_scores_payments_and_logs_each_network(gnn_installed, planted_dir, tmp_path):
    """`finlab run` with both GNNs, as experiments/gnn.yaml runs them: payment-level metrics
    for gnn_edges, and every trained network in mlflow as a model artifact."""
    import mlflow

    from finlab.cli import app

    spec = tmp_path / "gnn.yaml"
    spec.write_text(f"name: g\ndataset: {planted_dir}\ncheckpoints: 1\n"
                    "split: {bootstrap: 20}\ndetectors:\n"
                    "  - {name: gnn_edges, params: {hidden: 8, epochs: 1}}\n"
                    "  - {name: gnn_accounts, params: {hidden: 8, epochs: 1}}\n")
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    result = CliRunner().invoke(app, ["run", str(spec), "--out", str(tmp_path / "out"),
                                      "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    payment = metrics["detectors"]["gnn_edges"]["payment"]
    assert payment["positives"] > 0 and 0 < payment["average_precision"] <= 1
    low, high = payment["intervals"]["average_precision"]
    assert low <= payment["average_precision"] <= high
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("finlab-g").experiment_id])
    assert len(runs) == 2
    for run in runs:
        key = run.data.tags["detector"]
        assert [a.path for a in client.list_artifacts(run.info.run_id, "model")] == \
            [f"model/{key}.pt"]


def test_the_benchmark_runs_and_reports(gnn_installed, planted_dir, tmp_path):
    """benchmarks/gnn.py on a tiny world, in the fresh subprocess it uses: the figures it prints
    are those of a real fit and score (the speed goals themselves live in the benchmark)."""
    import subprocess
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "gnn.py"
    out = tmp_path / "runs.json"
    done = subprocess.run(
        [sys.executable, str(script), "--dataset", str(planted_dir), "--rows", "0", "--repeat",
         "1", "--detectors", "gnn_edges", "--params", '{"hidden": 8, "epochs": 2}', "--json",
         str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = json.loads(out.read_text())["runs"]
    assert run["scored"] == run["transactions"] > run["trained_on"] > 0
    assert len(run["validation_ap"]) == 2 and 1 <= run["refit_epochs"] <= 2
    assert "median of 1" in done.stdout


def test_edge_inputs_carry_strict_payment_features(planted, planted_split):
    """With payment_features on (the default), each edge's inputs end with its payment's strict
    features (signed log1p), and a payment's inputs are the same on the training prefix as on the
    whole dataset (no later payment reaches them); off, only the graph's own inputs remain."""
    from finlab.features.payments import payment_features
    from finlab.gnn.graph import EDGE_INPUTS

    _, train = planted_split
    cls = DETECTORS.get("gnn_edges")
    g = cls({}).graph(train)
    f = payment_features(train)
    assert g.edge_x.shape[1] == len(EDGE_INPUTS) + f.shape[1]
    x = f.to_numpy(np.float32)[f.index.get_indexer(g.txn_id)]
    want = np.nan_to_num(np.sign(x) * np.log1p(np.abs(x)))
    np.testing.assert_allclose(g.edge_x[:, len(EDGE_INPUTS):], want, rtol=1e-6)
    whole = cls({}).graph(planted.without_labels())
    at = pd.Index(whole.txn_id).get_indexer(g.txn_id)
    np.testing.assert_array_equal(whole.edge_x[at, len(EDGE_INPUTS):], g.edge_x[:, len(EDGE_INPUTS):])
    assert cls({"payment_features": False}).graph(train).edge_x.shape[1] == len(EDGE_INPUTS)


def test_the_graph_depends_on_no_row_order(planted_split):
    """Shuffled payments (and their extra inputs, shuffled alike) give the same graph."""
    from finlab.gnn.graph import build_graph, node_index

    _, train = planted_split
    tx = train.transactions
    extra = np.arange(len(tx) * 2, dtype=np.float32).reshape(len(tx), 2)
    nodes = node_index(train.accounts, tx)
    shuffle = np.random.default_rng(5).permutation(len(tx))
    a = build_graph(tx, nodes, extra)
    b = build_graph(tx.iloc[shuffle], nodes, extra[shuffle])
    for field in ("txn_id", "ts", "src", "dst", "edge_x", "node_x", "indptr", "incident"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_window_inputs_of_the_training_graph_stop_at_its_end(gnn_installed, planted_split,
                                                            monkeypatch):
    """In window mode the training graph's payment features are computed on the training graph
    alone: a payment just before the validation cut does not see the payments after it, while
    the validation graph's inputs do."""
    import finlab.gnn.train
    from finlab.features.payments import payment_features
    from finlab.gnn.graph import EDGE_INPUTS

    _, train = planted_split
    seen = {}

    def capture(kind, g_train, *args):
        seen.update(g_train=g_train, g_all=args[2])
        raise StopIteration

    monkeypatch.setattr(finlab.gnn.train, "train", capture)
    det = make_detector("gnn_edges", {**FAST, "mode": "window"})
    with pytest.raises(StopIteration):
        det.fit(train, train.labels)
    g_train, g_all = seen["g_train"], seen["g_all"]
    early = train.transactions[train.transactions["txn_id"].isin(g_train.txn_id)]
    alone = payment_features(replace(train, transactions=early), mode="window")
    x = alone.to_numpy(np.float32)[alone.index.get_indexer(g_train.txn_id)]
    want = np.nan_to_num(np.sign(x) * np.log1p(np.abs(x)))
    np.testing.assert_allclose(g_train.edge_x[:, len(EDGE_INPUTS):], want, rtol=1e-6)
    at = pd.Index(g_all.txn_id).get_indexer(g_train.txn_id)
    later_seen = (g_all.edge_x[at, len(EDGE_INPUTS):] != g_train.edge_x[:, len(EDGE_INPUTS):])
    assert later_seen.any(), "no training payment's window reaches past the cut: a vacuous test"
