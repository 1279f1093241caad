"""Sweeps on Dask: an experiment's seeds run as independent tasks give the results of the
one-process loop (finlab run --workers maps evaluate.experiment.run_seed the same way)."""

from __future__ import annotations

import pytest

from finlab.engine import cluster
from finlab.engine.sweeps import dask_map
from finlab.evaluate.experiment import Experiment, run_seed

pytest.importorskip("distributed")


def test_seeds_as_tasks_give_the_same_results(tiny_dataset_dir, tmp_path):
    exp = Experiment.model_validate({
        "name": "t", "dataset": str(tiny_dataset_dir), "checkpoints": 2, "seeds": [0, 1],
        "detectors": [{"name": "rules"}, {"name": "logistic_regression"}]})
    tasks = [(exp, tmp_path, tmp_path, seed, None) for seed in exp.seeds]
    here = [run_seed(*t) for t in tasks]
    with cluster(2, processes=False) as client:
        on_dask = dask_map(client)(run_seed, tasks)
    assert len(on_dask) == len(here) == 2
    for (runs_d, split_d, budget_d), (runs_h, split_h, budget_h) in zip(on_dask, here,
                                                                        strict=True):
        assert split_d == split_h and budget_d == budget_h
        assert [(r.key, r.seed) for r in runs_d] == [(r.key, r.seed) for r in runs_h]
        for d, h in zip(runs_d, runs_h, strict=True):
            assert d.metrics == h.metrics
            assert d.test_scores.equals(h.test_scores)
