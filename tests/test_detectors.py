"""One conformance suite over every registered detector, plus the `finlab detect` command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from finlab.detectors import DETECTORS, make_detector
from finlab.detectors.base import missing_extra
from finlab.errors import InputError

#: every registered detector whose optional extra (if any) is installed: the suite runs over
#: these; test_gnn.py checks that CI has the extras and what a user without them sees
NAMES = [n for n in DETECTORS.names() if missing_extra(DETECTORS.get(n)) is None]


@pytest.fixture(scope="module")
def other_world(tiny_scenario, tmp_path_factory):
    """A second tiny world from another seed: detectors fit on one world are judged on this one."""
    import finlab
    from finlab.generate import generate

    out = tmp_path_factory.mktemp("other") / "world"
    generate(tiny_scenario.model_copy(update={"seed": tiny_scenario.seed + 1}), out)
    return finlab.load(out)


@pytest.fixture(scope="module")
def fitted(tiny_dataset):
    """Each detector fitted once on the tiny world with its defaults."""
    return {name: make_detector(name).fit(tiny_dataset, tiny_dataset.labels) for name in NAMES}


def test_every_detector_family_is_registered():
    families = {DETECTORS.get(n).family for n in NAMES}
    assert {"rules", "tabular"} <= families
    assert len(NAMES) >= 4


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self(name, tiny_dataset):
    det = make_detector(name)
    assert det.fit(tiny_dataset, tiny_dataset.labels) is det


@pytest.mark.parametrize("name", NAMES)
def test_scores_are_finite_aligned_and_repeatable(name, fitted, tiny_dataset):
    det = fitted[name]
    visible = tiny_dataset.without_labels()
    scores = det.score(visible)
    assert isinstance(scores, pd.Series)
    assert det.level in ("account", "transaction")
    ids = tiny_dataset.accounts["account_id"] if det.level == "account" else \
        tiny_dataset.transactions["txn_id"]
    assert sorted(scores.index) == sorted(ids)
    assert scores.index.is_unique
    assert np.isfinite(scores.to_numpy(np.float64)).all()
    again = det.score(visible)
    pd.testing.assert_series_equal(scores, again)
    refit = make_detector(name).fit(tiny_dataset, tiny_dataset.labels).score(visible)
    pd.testing.assert_series_equal(scores, refit)


@pytest.mark.parametrize("name", NAMES)
def test_scores_ignore_labels(name, fitted, tiny_dataset):
    det = fitted[name]
    with_labels = det.score(tiny_dataset)
    without = det.score(tiny_dataset.without_labels())
    pd.testing.assert_series_equal(with_labels, without)


@pytest.mark.parametrize("name", NAMES)
def test_scores_do_not_change_with_the_truth(name, fitted, tiny_dataset):
    """Shuffling the labels of the scored dataset changes nothing (score never reads them)."""
    from dataclasses import replace

    la = tiny_dataset.labels.accounts
    shuffled = la.assign(role=la["role"].sample(frac=1, random_state=1).to_numpy())
    fake = replace(tiny_dataset, labels=replace(tiny_dataset.labels, accounts=shuffled))
    pd.testing.assert_series_equal(fitted[name].score(fake), fitted[name].score(tiny_dataset))


@pytest.mark.parametrize("name", [n for n in NAMES if not DETECTORS.get(n).learns_account_ids])
def test_better_than_random_on_another_world(name, fitted, other_world):
    """Fit on one planted world, score a world from another seed: the accounts of suspicious
    cases rank above random (average precision above the share of suspicious accounts); payment
    detectors through their account scores (see also the payment-level test below)."""
    from sklearn.metrics import average_precision_score

    from finlab.detectors.base import account_targets

    scores = fitted[name].account_scores(other_world.without_labels())
    y = account_targets(other_world.labels, scores.index)
    assert 0 < y.sum() < y.size
    ap = average_precision_score(y, scores.to_numpy())
    assert ap > 1.2 * y.mean(), f"{name}: AP {ap:.3f} vs random {y.mean():.3f}"


@pytest.mark.parametrize("name", [n for n in NAMES if DETECTORS.get(n).learns_account_ids])
def test_better_than_random_later_in_the_same_world(name, other_world):
    """A detector that learns account ids (a watchlist) is fitted on the first half of a world
    and judged at its end on the suspicious accounts it was not given."""
    from sklearn.metrics import average_precision_score

    from finlab.detectors.base import account_targets
    from finlab.evaluate.splits import temporal_split, until

    split = temporal_split(other_world, (0.5, 0.25, 0.25))
    past = until(other_world, split.train_end)
    det = make_detector(name).fit(past, past.labels)
    scores = det.score(other_world.without_labels())
    known = set(past.labels.observed["account_id"]) if past.labels.observed is not None else set()
    scores = scores[~scores.index.isin(known)]
    y = account_targets(other_world.labels, scores.index)
    assert 0 < y.sum() < y.size
    ap = average_precision_score(y, scores.to_numpy())
    assert ap > 1.2 * y.mean(), f"{name}: AP {ap:.3f} vs random {y.mean():.3f}"


@pytest.mark.parametrize("name", NAMES)
def test_explain_names_reasons_for_the_requested_ids(name, fitted, tiny_dataset):
    det = fitted[name]
    visible = tiny_dataset.without_labels()
    top = det.score(visible).nlargest(3).index
    why = det.explain(visible, top)
    assert list(why.columns) == ["id", "reason", "value", "weight"]
    assert set(why["id"]) <= set(top)
    assert len(why) > 0
    assert why["reason"].map(lambda r: isinstance(r, str) and r != "").all()


@pytest.mark.parametrize("name", [n for n in NAMES if DETECTORS.get(n).supervised])
def test_supervised_detectors_refuse_data_without_labels(name, tiny_dataset):
    with pytest.raises(InputError, match="supervised"):
        make_detector(name).fit(tiny_dataset.without_labels(), None)


def test_unknown_detector_and_parameter_are_clear_errors():
    with pytest.raises(InputError, match="unknown detector 'nope'; known: .*rules"):
        make_detector("nope")
    with pytest.raises(InputError, match="gradient_boosting.*max_depth_typo"):
        make_detector("gradient_boosting", {"max_depth_typo": 3})


def test_unknown_feature_group(tiny_dataset):
    det = make_detector("isolation_forest", {"groups": ["no_such_group"]})
    with pytest.raises(InputError, match="unknown feature group 'no_such_group'"):
        det.fit(tiny_dataset)


def test_score_before_fit_is_an_error(tiny_dataset):
    with pytest.raises(InputError, match="fit"):
        make_detector("rules").score(tiny_dataset)


# --- the command ------------------------------------------------------------------------------

runner = CliRunner()


def test_detect_writes_scores_and_explanations(tiny_dataset_dir, tmp_path):
    from finlab.cli import app

    out = tmp_path / "scores.parquet"
    result = runner.invoke(app, ["detect", str(tiny_dataset_dir), "--detector", "rules",
                                 "--out", str(out), "--top", "5"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pandas()
    assert list(table.columns) == ["id", "level", "score"]
    assert (table["level"] == "account").all()
    why = pq.read_table(tmp_path / "scores.explanations.parquet").to_pandas()
    assert set(why["id"]) <= set(table.nlargest(5, "score")["id"])
    assert "average precision (all cases)" in result.output


def test_detect_trains_on_another_dataset(tiny_dataset_dir, tiny_dataset, other_world, tmp_path):
    import finlab
    from finlab.cli import app

    other_dir = tmp_path / "other"
    finlab.save(other_world, other_dir)
    out = tmp_path / "gb.parquet"
    result = runner.invoke(app, ["detect", str(tiny_dataset_dir), "--detector",
                                 "logistic_regression", "--train", str(other_dir),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "in-sample" not in result.output
    assert pq.read_table(out).num_rows == len(tiny_dataset.accounts)


@pytest.mark.parametrize("args, message", [
    (["--detector", "nope"], "unknown detector 'nope'"),
    (["--detector", "gradient_boosting", "--params", "PARAMS"], "max_iter"),
])
def test_detect_bad_input_exits_2(args, message, tiny_dataset_dir, tmp_path):
    from finlab.cli import app

    params = tmp_path / "params.yaml"
    params.write_text("max_iter: -3\n")
    args = [str(params) if a == "PARAMS" else a for a in args]
    out = tmp_path / "s.parquet"
    result = runner.invoke(app, ["detect", str(tiny_dataset_dir), *args, "--out", str(out)])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_detect_supervised_without_labels_exits_2(tiny_dataset, tmp_path):
    import finlab
    from finlab.cli import app

    bare = tmp_path / "bare"
    finlab.save(tiny_dataset.without_labels(), bare)
    result = runner.invoke(app, ["detect", str(bare), "--detector", "gradient_boosting",
                                 "--out", str(tmp_path / "s.parquet")])
    assert result.exit_code == 2
    assert "supervised" in result.output and "labels" in result.output


def test_list_detectors_json_lists_every_detector():
    import json

    from finlab.cli import app

    result = runner.invoke(app, ["list", "detectors", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == DETECTORS.names()
    assert all({"family", "level", "supervised", "needs", "parameters"} <= set(r) for r in rows)
    assert {r["name"] for r in rows if not r["needs"]} == set(NAMES)


@pytest.mark.parametrize("name", [n for n in NAMES if DETECTORS.get(n).level == "transaction"])
def test_payment_detectors_rank_suspicious_payments_on_another_world(name, fitted, other_world):
    from sklearn.metrics import average_precision_score

    from finlab.detectors.payment_common import payment_targets

    scores = fitted[name].score(other_world.without_labels())
    y = payment_targets(other_world.labels, scores.index)
    assert 0 < y.sum() < y.size
    ap = average_precision_score(y, scores.to_numpy())
    assert ap > 1.2 * y.mean(), f"{name}: AP {ap:.4f} vs random {y.mean():.4f}"
