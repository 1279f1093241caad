"""Features and rule scores computed in account-hash shards on Dask equal the in-memory ones."""

from __future__ import annotations

import numpy as np
import pytest

from finlab.detectors import make_detector
from finlab.engine import cluster
from finlab.engine.shards import shard_of, sharded
from finlab.features import account_features

pytest.importorskip("distributed")


def test_shards_spread_accounts_and_are_stable():
    ids = np.arange(1, 10_001, dtype=np.int64)
    s = shard_of(ids, 4)
    assert np.array_equal(s, shard_of(ids, 4))
    assert np.bincount(s, minlength=4).min() > 2_000


def test_sharded_features_and_rule_scores_equal_the_in_memory_ones(tiny_dataset,
                                                                   tiny_dataset_dir):
    visible = tiny_dataset.without_labels()
    rules = make_detector("rules", {}).fit(visible)
    windows = tuple(rules.rule_sets()[0].spec.windows)  # the features a detector's shards return
    expected = account_features(visible, windows=windows)
    scores = rules.score(visible)
    with cluster(2, processes=False) as client:
        features, got, explained = sharded(client, tiny_dataset_dir, det=rules, shards=3, top=5)
    assert list(features.columns) == list(expected.columns)
    assert features.index.equals(expected.index)
    # the busiest-day sums add the same payments in another order: equal to float rounding
    np.testing.assert_allclose(features.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-9)
    assert got.sort_index().equals(scores.sort_index())
    assert set(explained["id"]) <= set(scores.nlargest(5).index)
    assert set(explained["id"]) == set(rules.explain(visible, scores.nlargest(5).index)["id"])
