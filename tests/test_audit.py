"""`finlab audit`: passes on a generated world, fails on planted leaks and broken labels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from typer.testing import CliRunner

import finlab
from finlab.audit import audit
from finlab.cli import app
from finlab.generate import generate


@pytest.fixture(scope="module")
def classroom(classroom_scenario, tmp_path_factory):
    return generate(classroom_scenario, tmp_path_factory.mktemp("audit") / "classroom")


def test_audit_passes_on_classroom(classroom, tmp_path):
    plot = tmp_path / "audit"  # no extension: .png is added and reported
    result = CliRunner().invoke(app, ["audit", str(classroom), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "audit passed" in result.output
    assert "ocse_payments" in result.output
    assert (tmp_path / "audit.png").stat().st_size > 10_000
    assert f"distributions: {tmp_path / 'audit.png'}" in result.output.replace("\n", "")
    assert not (classroom / "audit.png").exists()  # the dataset is only read


def _with_suspicious_ids_moved(ds):
    """Plant a leak: suspicious accounts get ids above every other id."""
    la = ds.labels.accounts
    bad = la.loc[la["case_id"].notna(), "account_id"].unique()
    top = int(ds.accounts["account_id"].max())
    mapping = dict(zip(bad, top + 1 + np.arange(len(bad))))

    def remap(s):
        return s.map(lambda v: mapping.get(v, v)).astype("int64")

    accounts = ds.accounts.assign(account_id=remap(ds.accounts["account_id"]))
    accounts = accounts.sort_values("account_id", ignore_index=True)
    tx = ds.transactions.assign(src_account=remap(ds.transactions["src_account"]),
                                dst_account=remap(ds.transactions["dst_account"]))
    labels = dataclasses.replace(ds.labels, accounts=la.assign(account_id=remap(la["account_id"])))
    return dataclasses.replace(ds, accounts=accounts, transactions=tx, labels=labels)


def test_audit_fails_on_planted_id_leak(classroom, tmp_path):
    leaky = _with_suspicious_ids_moved(finlab.load(classroom))
    assert leaky.validate() == []
    result = audit(leaky)
    assert not result.passed
    assert result.leakage_auc["accounts"] > 0.9
    path = finlab.save(leaky, tmp_path / "leaky")
    cli = CliRunner().invoke(app, ["audit", str(path)])
    assert cli.exit_code == 1
    assert "leakage probe" in cli.output


def test_audit_fails_on_planted_timestamp_leak(classroom):
    ds = finlab.load(classroom)
    flagged = ds.labels.transactions.set_index("txn_id")["is_suspicious"]
    mask = flagged.reindex(ds.transactions["txn_id"]).to_numpy(bool)
    ts = ds.transactions["ts"].copy()
    ts[mask] = ts[mask].dt.floor("min")  # suspicious payments at minute granularity
    leaky = dataclasses.replace(ds, transactions=ds.transactions.assign(ts=ts))
    result = audit(leaky)
    assert result.leakage_auc["transactions"] > 0.9
    assert not result.passed


def test_audit_fails_on_broken_labels(classroom):
    ds = finlab.load(classroom)
    lt = ds.labels.transactions
    broken = lt.copy()
    broken.loc[broken["is_suspicious"], "case_id"] = 999_999  # an unknown case
    result = audit(dataclasses.replace(ds, labels=dataclasses.replace(ds.labels, transactions=broken)))
    assert not result.passed
    assert any("case" in p for p in result.problems)
