"""One definition of the truth: `finlab detect` and `finlab run` count the same positives, and the
truth module agrees with the labels read directly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from finlab.detectors.report import evaluation_targets
from finlab.evaluate.splits import temporal_split
from finlab.truth import (
    account_roles,
    cases_active,
    first_suspicious_time,
    look_alike_class,
    period_targets,
    suspicious_accounts,
)


def _ends(ds, start, end):
    """Accounts at either end of a suspicious payment in [start, end), read without truth.py."""
    tx, lt = ds.transactions, ds.labels.transactions
    bad = set(lt.loc[lt["is_suspicious"].astype(bool), "txn_id"])
    rows = tx[(tx["ts"] >= start) & (tx["ts"] < end) & tx["txn_id"].isin(bad)]
    return rows


def test_detect_and_run_count_the_same_positives(tiny_dataset):
    split = temporal_split(tiny_dataset)
    run = period_targets(tiny_dataset, split.validation_end, split.end)
    as_detected = replace(tiny_dataset, manifest={**tiny_dataset.manifest,
                                                  "as_of": str(split.end)})
    days = (split.end - split.validation_end).days
    detect = evaluation_targets(as_detected, lookback_days=days)
    assert run.y.sum() > 0
    pd.testing.assert_series_equal(detect.y, run.y)
    # the positives are exactly the role-holding ends of the period's suspicious payments
    rows = _ends(tiny_dataset, split.validation_end, split.end)
    ends = set(rows["src_account"]) | set(rows["dst_account"])
    positives = set(run.y.index[run.y == 1])
    assert positives <= ends
    assert positives == ends & set(suspicious_accounts(tiny_dataset.labels))
    # accounts with a role but no suspicious payment in the period are neither hits nor misses
    left_out = set(suspicious_accounts(tiny_dataset.labels)) - positives
    assert not left_out & set(run.y.index)


def test_a_typology_scope_leaves_other_suspicious_accounts_out(tiny_dataset):
    split = temporal_split(tiny_dataset)
    all_cases = period_targets(tiny_dataset, split.start, split.end)
    ocse = period_targets(tiny_dataset, split.start, split.end, typology="ocse_payments")
    assert 0 < ocse.y.sum() < all_cases.y.sum()
    assert set(ocse.typology) == {"ocse_payments"}
    others = set(all_cases.y.index[all_cases.y == 1]) - set(ocse.y.index[ocse.y == 1])
    assert others and not others & set(ocse.y.index)


def test_first_suspicious_time_and_active_cases(tiny_dataset):
    first = first_suspicious_time(tiny_dataset)
    assert set(first.index) <= set(suspicious_accounts(tiny_dataset.labels))
    rows = _ends(tiny_dataset, first.min(), first.max() + pd.Timedelta(seconds=1))
    some = int(first.index[0])
    mine = rows[(rows["src_account"] == some) | (rows["dst_account"] == some)]
    assert first[some] == mine["ts"].min()
    cases = tiny_dataset.labels.cases
    mid = cases["first_ts"].min() + pd.Timedelta(days=1)
    active = cases_active(tiny_dataset, cases["first_ts"].min(), mid)
    expected = cases.loc[cases["first_ts"] < mid, "case_id"]
    assert set(active) == set(expected)


def test_roles_prefer_the_suspicious_one_and_look_alikes_exclude_offenders(tiny_dataset):
    lab = tiny_dataset.labels
    la = lab.accounts
    offender = int(la.loc[la["case_id"].notna(), "account_id"].iloc[0])
    extra = pd.DataFrame({"account_id": [offender], "role": ["decoy:payroll"],
                          "typology": ["decoy:payroll"], "case_id": [np.nan]})
    both = pd.concat([extra.astype(la.dtypes.to_dict()), la], ignore_index=True)
    labels = replace(lab, accounts=both)
    roles = account_roles(labels)
    assert not roles[offender].startswith("decoy:")
    assert roles.index.is_unique
    decoys = look_alike_class(labels)
    assert offender not in decoys.index
    assert not any(c.startswith("decoy:") for c in decoys)
