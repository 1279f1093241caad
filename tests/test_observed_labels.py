"""Noisy observed labels: missed cases, false flags on look-alikes, and delayed flags."""

from __future__ import annotations

import pandas as pd

import finlab
from finlab.config import ObservedLabels
from finlab.generate import generate


def _observed(tiny_scenario, tmp_path, **cfg):
    sc = tiny_scenario.model_copy(update={"observed_labels": ObservedLabels(**cfg)})
    return finlab.load(generate(sc, tmp_path / "w"))


def test_perfect_recall_flags_every_case_account_after_its_first_payment(tiny_scenario, tmp_path):
    ds = _observed(tiny_scenario, tmp_path, recall=1.0, false_flag_rate=0.0, delay_days=10)
    obs, la, cases = ds.labels.observed, ds.labels.accounts, ds.labels.cases
    assert ds.validate() == []
    assert (obs["source"] == "case").all()
    case_accounts = set(la.loc[la["case_id"].notna(), "account_id"])
    assert set(obs["account_id"]) == case_accounts
    first = cases.set_index("case_id")["first_ts"]
    assert (obs["flagged_at"].to_numpy() >= first.reindex(obs["case_id"]).to_numpy()).all()
    delay = obs["flagged_at"] - pd.Series(first.reindex(obs["case_id"]).to_numpy(), index=obs.index)
    assert 3 < delay.dt.total_seconds().mean() / 86_400 < 30  # exponential with mean 10 days


def test_zero_recall_leaves_only_false_flags_on_look_alikes(tiny_scenario, tmp_path):
    ds = _observed(tiny_scenario, tmp_path, recall=0.0, false_flag_rate=0.5, delay_days=0)
    obs, la = ds.labels.observed, ds.labels.accounts
    assert len(obs) > 0 and (obs["source"] == "false_flag").all()
    assert obs["case_id"].isna().all()
    decoys = set(la.loc[la["role"].astype(str).str.startswith("decoy:"), "account_id"])
    assert set(obs["account_id"]) <= decoys
    assert 0.3 < len(obs) / len(decoys) < 0.7


def test_partial_recall_misses_whole_cases(tiny_scenario, tmp_path):
    ds = _observed(tiny_scenario, tmp_path, recall=0.5, false_flag_rate=0.0, delay_days=1)
    found = set(ds.labels.observed["case_id"].dropna().astype(int))
    all_cases = set(ds.labels.cases["case_id"])
    assert found < all_cases and found


def test_no_observed_table_unless_asked(tiny_scenario, tmp_path):
    sc = tiny_scenario.model_copy(update={"observed_labels": None})
    out = generate(sc, tmp_path / "w")
    assert not (out / "labels" / "observed.parquet").exists()
    assert finlab.load(out).labels.observed is None
