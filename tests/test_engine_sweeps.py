"""Sweeps on Dask: an experiment's seeds run as independent tasks give the results of the
one-process loop (finlab run --workers maps evaluate.experiment.run_seed the same way)."""

from __future__ import annotations

import json

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
    for (runs_d, split_d, budget_d, views_d), (runs_h, split_h, budget_h, views_h) in zip(
            on_dask, here, strict=True):
        assert split_d == split_h and budget_d == budget_h
        assert json.dumps(views_d, sort_keys=True) == json.dumps(views_h, sort_keys=True)
        assert [(r.key, r.seed) for r in runs_d] == [(r.key, r.seed) for r in runs_h]
        for d, h in zip(runs_d, runs_h, strict=True):
            assert d.metrics == h.metrics
            assert d.test_scores.equals(h.test_scores)


def test_cooperation_sweep_settings_as_tasks_give_the_same_levels(tiny_dataset):
    import cloudpickle

    from finlab.cooperation.experiment import sweep_levels, swept
    from finlab.cooperation.simulate import Settings, Simulation

    sim = Simulation(tiny_dataset, "rules", {"files": ["ocse"]}, seed=0)
    base = Settings.model_validate({"period_days": 7, "review_capacity": 3})
    tasks = [(sim, swept(base, "review_capacity", c), ["L0", "L1"]) for c in (2, 5)]
    here = [sweep_levels(*t) for t in tasks]
    cloudpickle.loads(cloudpickle.dumps(sim))  # it can travel to a worker process
    with cluster(2, processes=False) as client:
        on_dask = dask_map(client)(sweep_levels, tasks)
    assert measures(on_dask) == measures(here)


def measures(levels: list[dict]) -> str:
    """Every measure but the wall time, as text (NaN where a measure is undefined)."""
    return json.dumps([{lv: {k: v for k, v in m.items() if k != "seconds"}
                        for lv, m in point.items()} for point in levels], sort_keys=True,
                      default=str)
