"""Steady prevalence: long-running cases are planned over a horizon longer than the period, so the
suspicious share stays level (unless a scenario asks for a trend) and labels stay exact for cases
already running when the period starts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import finlab
from finlab.config import TypologySpec
from finlab.generate import generate
from finlab.truth import positive_share_by_window

DAYS = 150


def ocse_world(base, trend=None):
    """A world built for the test: OCSE networks only, 150 days, enough of them to average out."""
    return base.model_copy(update={
        "population": base.population.model_copy(update={"persons": 3000, "businesses": 60}),
        "period": base.period.model_copy(update={"days": DAYS, "window_days": 30}),
        "typologies": [TypologySpec(name="ocse_payments", count=30)],
        "prevalence_trend": trend,
        "seed": 5,
    })


@pytest.fixture(scope="module")
def steady(classroom_scenario, tmp_path_factory):
    return finlab.load(generate(ocse_world(classroom_scenario),
                                tmp_path_factory.mktemp("steady") / "world"))


def test_the_share_of_every_30_day_window_stays_near_the_period_share(steady):
    windows = positive_share_by_window(steady, 30)
    assert len(windows) == DAYS // 30
    assert windows["suspicious"].min() > 100
    assert windows["ratio"].between(0.7, 1.3).all(), windows


def test_a_trend_is_there_only_when_asked(classroom_scenario, steady, tmp_path):
    rising = finlab.load(generate(ocse_world(classroom_scenario, trend=3.0), tmp_path / "w"))
    level = positive_share_by_window(steady, 30)["suspicious"].to_numpy()
    grown = positive_share_by_window(rising, 30)["suspicious"].to_numpy()
    # the same networks and senders (one seed): the trend alone multiplies their payments,
    # by about 3 ** (days from the start / the period)
    factor = grown / level
    assert factor[-1] > 1.8 * factor[0]
    assert np.all(np.diff(factor) > -0.15)


def test_cases_running_before_the_period_keep_exact_labels(steady):
    start = steady.transactions["ts"].min().floor("D")
    end = start + pd.Timedelta(days=DAYS)
    lt, tx = steady.labels.transactions, steady.transactions
    bad = tx.merge(lt[lt["is_suspicious"].astype(bool)][["txn_id", "case_id"]], on="txn_id")
    cases = steady.labels.cases.set_index("case_id")
    seen = bad.groupby("case_id")["ts"].agg(["min", "max", "size"])
    # first and last times are those of the payments in the data, never before the period
    assert (cases.loc[seen.index, "first_ts"] == seen["min"]).all()
    assert (cases.loc[seen.index, "last_ts"] == seen["max"]).all()
    assert (cases.loc[seen.index, "n_transactions"] == seen["size"]).all()
    assert (cases["first_ts"].dropna() >= start).all()
    # some networks were already running on the first day, some start and some end inside it
    week = pd.Timedelta(days=7)
    assert (seen["min"] < start + pd.Timedelta(days=2)).any()
    assert (seen["min"] > start + 4 * week).any()
    assert (seen["max"] < end - 4 * week).any()
    # and so do senders: payments of one sender begin after the first day or stop before the end
    per_sender = bad.groupby("src_account")["ts"].agg(["min", "max"])
    assert (per_sender["min"] > start + 4 * week).any()
    assert (per_sender["max"] < end - 4 * week).any()
    assert np.isin(bad["txn_id"], lt["txn_id"]).all()
