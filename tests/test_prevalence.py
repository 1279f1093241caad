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


def running_per_day(start, end, days):
    day = np.arange(days)
    return ((start[:, None] <= day) & (day < end[:, None])).sum(0)


def test_spread_spans_keep_the_number_running_level_and_each_day_equally_likely():
    from finlab.typologies.base import steady_spans

    days, n = 270, 40
    swings, mean_running = [], np.zeros(days)
    for seed in range(200):
        start, end = steady_spans(np.random.default_rng(seed), n, days, (180, 540))
        assert ((end > 0) & (start < days)).all()  # every activity overlaps the period
        running = running_per_day(start, end, days)
        swings.append((running.min() / running.mean(), running.max() / running.mean()))
        mean_running += running / 200
    swings = np.array(swings)
    # independent uniform starts swing from about 0.62 to 1.39 of the mean on these draws
    assert swings[:, 0].min() > 0.75 and swings[:, 1].max() < 1.25, swings
    # each start stays uniform on its own range, so on average no day is favoured
    assert mean_running.min() / mean_running.mean() > 0.97
    assert mean_running.max() / mean_running.mean() < 1.03


def test_the_heaviest_activities_start_far_apart_on_their_ranges():
    from finlab.typologies.base import steady_spans

    days, n = 180, 25
    for seed in range(50):
        rng = np.random.default_rng(seed)
        weight = rng.lognormal(0, 1.3, n)
        start, end = steady_spans(rng, n, days, (180, 540), weight=weight)
        length = end - start
        where = (start + length - 1) / (days + length - 1)  # quantile of each start on its range
        heavy = np.sort(where[np.argsort(-weight)[:5]])
        gaps = np.diff(np.r_[heavy, heavy[0] + 1.0])  # on the circle [0, 1)
        assert gaps.min() > 0.09, (seed, heavy)
