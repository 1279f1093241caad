"""Evaluation views beyond the temporal split (inductive, held-out networks), bootstrap intervals,
and the multi-seed report pairing each seed's scores with its own data."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from finlab.evaluate import bootstrap
from finlab.evaluate.bootstrap import (
    case_weights,
    intervals,
    payment_intervals,
    resample_weights,
    weighted_metrics,
)
from finlab.evaluate.experiment import Experiment, evaluate_dataset
from finlab.evaluate.held_out import case_split, restrict, training_view, unseen_accounts
from finlab.truth import Targets, suspicious_accounts

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def targets(y, cases) -> Targets:
    y = pd.Series(np.asarray(y), index=np.arange(len(y)) + 1)
    pos = y.index[y.to_numpy() == 1]
    return Targets(y=y, typology=pd.Series("a", index=pos),
                   case_id=pd.Series(np.asarray(cases), index=pos),
                   first_seen=pd.Series(T0, index=pos), decoy=pd.Series(dtype=str))


def test_inductive_view_keeps_only_accounts_unseen_in_training():
    day = pd.Timedelta(days=1)
    tx = pd.DataFrame({"ts": [T0, T0 + day, T0 + 5 * day, T0 + 6 * day],
                       "src_account": [1, 2, 3, 5], "dst_account": [2, 9, 4, 6]})
    ds = SimpleNamespace(transactions=tx,
                         accounts=pd.DataFrame({"account_id": [1, 2, 3, 4, 5, 6, 7, 9]}))
    unseen = unseen_accounts(ds, T0 + 3 * day)
    assert list(unseen) == [3, 4, 5, 6, 7]
    t = targets([1, 1, 0, 1, 0, 1, 0, 0], [10, 10, 11, 12])
    view = restrict(t, unseen)
    assert list(view.y.index) == [3, 4, 5, 6, 7]
    assert list(view.y) == [0, 1, 0, 1, 0]
    assert list(view.case_id) == [11, 12] and list(view.case_id.index) == [4, 6]


def test_case_split_keeps_test_networks_out_of_training_labels(tiny_dataset):
    split = case_split(tiny_dataset, (0.6, 0.2, 0.2), seed=3)
    parts = [split.train, split.validation, split.test]
    everyone = pd.Index(tiny_dataset.accounts["account_id"])
    assert sum(len(p) for p in parts) == len(everyone)
    assert parts[0].union(parts[1]).union(parts[2]).equals(everyone.sort_values())
    cases = split.cases
    assert not set(cases["train"]) & set(cases["test"])
    assert len(cases["test"]) >= 1 and len(cases["train"]) >= 1
    la = tiny_dataset.labels.accounts
    test_members = set(la.loc[la["case_id"].isin(cases["test"]), "account_id"])
    assert test_members <= set(split.test)  # a network goes whole to its part
    train = training_view(tiny_dataset, split)
    known = set(train.labels.accounts["account_id"])
    assert not known & test_members and not known & set(split.validation)
    held = cases["test"].union(cases["validation"])
    lt = train.labels.transactions
    assert not lt.loc[lt["is_suspicious"], "case_id"].isin(held).any()
    assert set(suspicious_accounts(train.labels)) <= set(split.train)
    # benign accounts are split by account: each part gets some
    benign = everyone.difference(pd.Index(la.loc[la["case_id"].notna(), "account_id"]))
    for part in parts:
        assert len(part.intersection(benign)) > 0


def test_weighted_metrics_with_unit_weights_agree_with_scikit_learn():
    from sklearn.metrics import average_precision_score, f1_score

    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(int)
    score = np.round(rng.random(500) + y * 0.5, 2)  # ties included
    got = weighted_metrics(y, score, np.ones((1, 500), np.float32), 0.8, 40)
    assert got["average_precision"][0] == pytest.approx(average_precision_score(y, score))
    assert got["f1"][0] == pytest.approx(f1_score(y, score >= 0.8))
    top = np.lexsort((np.arange(500), -score))[:40]
    assert got["recall_at_budget"][0] == pytest.approx(y[top].sum() / y.sum())


def _noisy(n_cases: int, seed: int):
    """n_cases networks of 3 accounts and 30 benign accounts per network, scores overlapping."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(3 * n_cases, int), np.zeros(30 * n_cases, int)]
    t = targets(y, np.repeat(np.arange(n_cases), 3))
    strength = np.repeat(np.linspace(-0.5, 2.5, n_cases), 3)  # some networks easy, some hard
    s = np.r_[strength + rng.normal(0, 0.3, 3 * n_cases), rng.normal(0, 1, 30 * n_cases)]
    return pd.Series(s, index=t.y.index), t


def test_intervals_contain_the_estimate_and_shrink_with_more_cases():
    from sklearn.metrics import average_precision_score

    widths = []
    for n in (8, 80):
        scores, t = _noisy(n, seed=n)
        w = resample_weights(t, 200, seed=1)
        assert w.shape == (200, len(t.y))
        # a network is drawn whole: its accounts share one multiplicity in every resample
        first = np.flatnonzero(t.y.to_numpy() == 1)[:3]
        assert (w[:, first] == w[:, first[:1]]).all()
        ci = intervals(scores, t, w, threshold=1.0, budget=3 * n)
        ap = average_precision_score(t.y, scores)
        assert ci["average_precision"][0] <= ap <= ci["average_precision"][1]
        for key in ("f1", "recall_at_budget"):
            assert ci[key][0] <= ci[key][1]
        widths.append(ci["average_precision"][1] - ci["average_precision"][0])
    assert widths[1] < 0.6 * widths[0]


def test_positives_without_a_case_are_drawn_alone():
    y = np.array([1, 1, 1, 1, 0, 0])
    case = np.array(["c", "c", None, None, None, None], dtype=object)
    w = case_weights(np.random.default_rng(0), y, case, 300)
    assert (w[:, 0] == w[:, 1]).all()  # one case, drawn whole
    assert (w[:, 2] != w[:, 3]).any() and (w[:, 2] != w[:, 0]).any()  # two lone payments
    assert w[:, :4].sum(axis=1).mean() == pytest.approx(4, rel=0.1)  # 3 cases of 4 payments


def test_payment_intervals_match_the_full_bootstrap():
    """The Poisson shortcut (one draw per stretch of negatives) gives the intervals that drawing
    every payment does, and contains the estimate."""
    from sklearn.metrics import average_precision_score

    scores, t = _noisy(40, seed=3)
    y, score = t.y.to_numpy(), scores.to_numpy()
    case = t.case_id.reindex(t.y.index).to_numpy(object)
    fast = payment_intervals(score, y, case, threshold=1.0, budget=120, resamples=400, seed=2)
    assert fast == payment_intervals(score, y, case, 1.0, 120, 400, seed=2)  # paired by seed
    full = bootstrap.bounds(weighted_metrics(
        y, score, case_weights(np.random.default_rng(5), y, case, 400), 1.0, 120), 0.95)
    ap = average_precision_score(y, score)
    assert fast["average_precision"][0] <= ap <= fast["average_precision"][1]
    for key in bootstrap.METRICS:
        assert 0 <= fast[key][0] < fast[key][1] <= 1
        assert fast[key] == pytest.approx(full[key], abs=0.05), key


def test_evaluate_dataset_reports_every_view_with_intervals(tiny_dataset):
    exp = Experiment.model_validate({
        "name": "v", "dataset": "unused", "detectors": [{"name": "rules"}],
        "checkpoints": 1, "split": {"bootstrap": 50}})
    runs, _, _, views = evaluate_dataset(exp, tiny_dataset, seed=0)
    m = runs[0].metrics
    for key in ("account", "inductive", "case_split"):
        assert "average_precision" in m[key] and "intervals" in m[key], key
    ci = m["account"]["intervals"]["average_precision"]
    assert ci[0] <= m["account"]["average_precision"] <= ci[1]
    ci = m["payment"]["intervals"]["average_precision"]
    assert ci[0] <= m["payment"]["average_precision"] <= ci[1]
    assert views["bootstrap_resamples"] == 50
    assert views["case"]["test"]["cases"] >= 1
    assert views["inductive"]["accounts"] <= m["account"]["positives"] + m["account"]["negatives"]


def test_multi_seed_report_uses_each_seeds_own_data(tiny_scenario, tmp_path, monkeypatch):
    import finlab
    from finlab.evaluate import report
    from finlab.evaluate.experiment import run_experiment
    from finlab.evaluate.splits import temporal_split
    from finlab.truth import period_targets

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(yaml.safe_dump(tiny_scenario.model_dump(mode="json")))
    exp = Experiment.model_validate({
        "name": "two", "scenario": "tiny.yaml", "seeds": [0, 1], "checkpoints": 1,
        "detectors": [{"name": "rules"}], "split": {"views": [], "bootstrap": 0}})
    drawn = {}

    def capture(path, metrics, curves, alerts, **kw):
        drawn.update(curves=curves, alerts=alerts)
        return real(path, metrics, curves, alerts, **kw)

    real = report.write_report
    monkeypatch.setattr(report, "write_report", capture)
    out = tmp_path / "out"
    run_experiment(exp, tmp_path, out, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    worlds = sorted((out / "data").iterdir())
    first, second = (finlab.load(w) for w in worlds)
    assert first.manifest["seed"] < second.manifest["seed"]
    ids1, ids2 = set(first.accounts["account_id"]), set(second.accounts["account_id"])
    assert ids1 != ids2
    split = temporal_split(first)
    own = period_targets(first, split.validation_end, split.end)
    curve = drawn["curves"]["rules"]
    np.testing.assert_array_equal(curve["y"], own.y.to_numpy())
    assert len(curve["score"]) == len(own.y)
    assert set(drawn["alerts"]["id"]) <= ids1  # alerts name the first seed's accounts
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["report_seed"] == 0
    ap = metrics["detectors"]["rules"]["account"]["average_precision"]
    assert len(ap["per_seed"]) == 2 and ap["mean"] == pytest.approx(np.mean(ap["per_seed"]))
    assert "first seed (0)" in (out / "report.html").read_text()
