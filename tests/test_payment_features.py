"""Payment features, payment detectors and payment-level metrics: no future in strict mode,
patterns computed by hand on a tiny ledger, metrics equal to scikit-learn's, bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from finlab.errors import InputError
from finlab.features.payments import payment_feature_names, payment_features


def _without_as_of(ds, tx):
    manifest = {k: v for k, v in ds.manifest.items() if k != "as_of"}
    return replace(ds, transactions=tx.reset_index(drop=True), manifest=manifest)


def test_strict_mode_never_uses_later_payments(tiny_dataset):
    tx = tiny_dataset.transactions
    base = _without_as_of(tiny_dataset, tx)
    before = payment_features(base)
    late = tx.iloc[[len(tx) // 2, len(tx) - 1]].copy()
    late["ts"] = tx["ts"].max() + pd.Timedelta(hours=1)
    late["txn_id"] = tx["txn_id"].max() + np.arange(1, 3)
    # the later payments repeat an existing pair and payer, so every window of those ends moves
    after = payment_features(_without_as_of(tiny_dataset, pd.concat([tx, late])))
    assert len(after) == len(before) + 2
    pd.testing.assert_frame_equal(after.loc[before.index], before)
    window = payment_features(_without_as_of(tiny_dataset, pd.concat([tx, late])), mode="window")
    # window mode does see them: the payments just before them change
    changed = (window.loc[before.index] != payment_features(base, mode="window")).any(axis=1)
    assert changed.any()


def hand_ledger(ds):
    """Accounts a..e: a, b, c pay d (fan-in); d -> e -> a -> d closes a cycle of 3; e passes on
    97% of what it received an hour before."""
    acc = ds.accounts["account_id"].to_numpy()[:5]
    a, b, c, d, e = acc
    t0 = ds.transactions["ts"].min().floor("D") + pd.Timedelta(hours=8)
    rows = [(a, d, 0, 100.0), (b, d, 1, 100.0), (c, d, 2, 100.0), (d, e, 3, 300.0),
            (e, a, 4, 290.0), (a, d, 5, 280.0)]
    template = ds.transactions.iloc[[0] * len(rows)].reset_index(drop=True)
    accounts = ds.accounts.set_index("account_id")
    tx = template.assign(
        txn_id=np.arange(1, len(rows) + 1),
        ts=[t0 + pd.Timedelta(hours=h) for _, _, h, _ in rows],
        src_account=[r[0] for r in rows], dst_account=[r[1] for r in rows],
        amount=[r[3] for r in rows], amount_base=[r[3] for r in rows])
    for side in ("src", "dst"):
        ids = tx[f"{side}_account"]
        tx[f"{side}_bank"] = accounts.loc[ids, "bank_id"].to_numpy()
        tx[f"{side}_country"] = accounts.loc[ids, "country"].to_numpy()
    return _without_as_of(ds, tx)


def test_fan_in_cycle_and_pass_through_by_hand(tiny_dataset):
    f = payment_features(hand_ledger(tiny_dataset))
    assert f.loc[3, "dst_in_count_1d"] == 2  # a and b paid d before c did
    assert f.loc[3, "dst_in_cp_1d"] == 2
    assert f.loc[1, "dst_in_count_1d"] == 0
    assert f.loc[6, "cycle_3"] == 1 and f.loc[6, "cycle_shortest"] == 3  # d -> e -> a -> d
    assert f.loc[5, "cycle_3"] == 1  # e -> a closes a -> d (0h) -> e (3h) -> a as well
    assert f.loc[4, "cycle_shortest"] == 0  # nothing led from e back to d before 3h
    assert f.loc[6, "pair_before"] == 1 and f.loc[6, "pair_first"] == 0
    assert f.loc[5, "pass_through_in"] == 1  # e pays on 290 of the 300 it got an hour before
    assert f.loc[4, "pass_through_in"] == 0  # d got 100s, pays 300: not a pass-through
    assert f.loc[4, "src_in_count_1h"] == 1 and f.loc[4, "src_in_count_1d"] == 3  # [2h, 3h)
    assert (f["pass_through_on"] == 0).all()  # strict mode sees nothing after
    w = payment_features(hand_ledger(tiny_dataset), mode="window")
    assert w.loc[4, "pass_through_on"] == 1  # window mode: e passes d's payment on
    assert w.loc[1, "dst_in_count_1d"] == 3  # ... and sees b, c and a's later payment to d


def test_payment_metrics_equal_scikit_learn():
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

    from finlab.evaluate.payment_metrics import payment_metrics

    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.05
    score = rng.random(2000) + 0.4 * y
    classes = pd.Series(np.where(y, rng.choice(["cycle", "lone payment"], 2000), ""))
    m = payment_metrics(score, y, classes, threshold=0.9, budget=100)
    assert m["average_precision"] == pytest.approx(average_precision_score(y, score))
    assert m["f1"] == pytest.approx(f1_score(y, score >= 0.9))
    assert m["precision"] == pytest.approx(precision_score(y, score >= 0.9))
    assert m["recall"] == pytest.approx(recall_score(y, score >= 0.9))
    top = np.argsort(-score, kind="stable")[:100]
    assert m["precision_at_budget"] == pytest.approx(y[top].mean())
    assert m["recall_at_budget"] == pytest.approx(y[top].sum() / y.sum())
    lone = (classes == "lone payment").to_numpy()
    assert m["lone_recall"] == pytest.approx((score[lone] >= 0.9).mean())


def test_unknown_feature_in_a_payment_rule_is_one_line(tmp_path, tiny_dataset):
    from finlab.detectors import make_detector

    f = tmp_path / "bad.yaml"
    f.write_text("name: bad\nrules:\n  - id: X1\n    feature: fan_in_magic\n"
                 "    bands: [{min: 1, score: 1}]\n")
    with pytest.raises(InputError) as e:
        make_detector("payment_rules", {"file": str(f)}).fit(tiny_dataset)
    msg = str(e.value)
    assert "\n" not in msg and f"{f}:4" in msg and "'fan_in_magic'" in msg


def test_unknown_payment_rule_feature_exits_2_and_writes_nothing(tmp_path, tiny_dataset_dir):
    from typer.testing import CliRunner

    from finlab.cli import app

    f = tmp_path / "bad.yaml"
    f.write_text("name: bad\nrules:\n  - id: X1\n    feature: nope\n"
                 "    bands: [{min: 1, score: 1}]\n")
    params = tmp_path / "params.yaml"
    params.write_text(f"file: {f}\n")
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(app, ["detect", str(tiny_dataset_dir), "--detector",
                                      "payment_rules", "--params", str(params), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "unknown payment feature 'nope'" in result.output
    assert not out.exists()


def test_dates_without_time_of_day_leave_hourly_features_out(tiny_dataset):
    from finlab.detectors import make_detector

    tx = tiny_dataset.transactions
    daily = _without_as_of(tiny_dataset, tx.assign(ts=tx["ts"].dt.floor("D")))
    f = payment_features(daily)
    left_out = f.attrs["left_out"]
    assert "hour_local" in left_out and "src_out_count_1h" in left_out
    assert not set(left_out) & set(f.columns)
    assert list(f.columns) == payment_feature_names(timed=False)
    from finlab.evaluate.data_notes import data_notes

    assert data_notes(daily)["payment_features_left_out"] == left_out  # said next to results
    rule = make_detector("payment_rules").fit(daily)
    rule.rules_ = rule.rules_.model_copy(update={"rules": [
        rule.rules_.rules[0].model_copy(update={"feature": "src_out_count_1h"})]})
    with pytest.raises(InputError, match="left out on this dataset .* no time of day"):
        rule.score(daily)


def test_payment_detector_gives_account_scores(tiny_dataset):
    from finlab.detectors import make_detector

    det = make_detector("payment_rules").fit(tiny_dataset)
    visible = tiny_dataset.without_labels()
    pay = det.score(visible)
    acc = det.account_scores(visible)
    assert sorted(acc.index) == sorted(tiny_dataset.accounts["account_id"])
    tx = tiny_dataset.transactions
    a = tx["src_account"].iloc[0]
    mine = tx.loc[(tx["src_account"] == a) | (tx["dst_account"] == a), "txn_id"]
    assert acc[a] == pytest.approx(pay[mine].max())


def test_time_prefixes_take_their_strict_features_and_scores_from_the_whole(tiny_dataset):
    """An experiment's views (`until`) reuse the whole data's strict features and scores: they
    equal what each view computes alone, and the whole is computed once."""
    from finlab.detectors import make_detector
    from finlab.detectors.payment_common import features_of
    from finlab.evaluate.splits import temporal_split, until

    split = temporal_split(tiny_dataset)
    train = until(tiny_dataset, split.train_end)
    test = until(tiny_dataset, split.validation_end).without_labels()
    whole = features_of(tiny_dataset, "strict", 86_400)
    for view in (train, test):
        mine = features_of(view, "strict", 86_400)
        assert len(mine) == len(view.transactions) < len(whole)
        alone = payment_features(_without_as_of(view, view.transactions))
        pd.testing.assert_frame_equal(mine.loc[alone.index], alone)
        assert np.shares_memory(mine.to_numpy(), whole.to_numpy())
    det = make_detector("payment_boosting", {"max_iter": 20}).fit(train, train.labels)
    own = det._predict(test)
    pd.testing.assert_series_equal(det.score(test).loc[own.index], own)
    # a view that is not a head of the whole (payments dropped from its middle) computes alone
    gappy = replace(test, transactions=test.transactions.iloc[::2])
    from finlab.schema import mark_prefix

    mark_prefix(gappy, tiny_dataset)
    assert len(features_of(gappy, "strict", 86_400)) == len(gappy.transactions)
    pd.testing.assert_frame_equal(
        features_of(gappy, "strict", 86_400),
        payment_features(_without_as_of(gappy, gappy.transactions)))
