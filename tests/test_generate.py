"""Generation end to end: layout, integrity, determinism and window independence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import finlab
from finlab.generate import generate, materialize_window, plan


def test_layout_and_manifest(tiny_dataset_dir):
    for rel in ["countries", "banks", "parties", "accounts", "labels/accounts", "labels/cases",
                "labels/party_attributes"]:
        assert (tiny_dataset_dir / f"{rel}.parquet").is_file(), rel
    for rel in ["transactions", "labels/transactions"]:  # one part per window (30 days / 10)
        parts = sorted(p.name for p in (tiny_dataset_dir / rel).iterdir())
        assert parts == [f"part-{i:05d}.parquet" for i in range(3)], rel
    manifest = json.loads((tiny_dataset_dir / "manifest.json").read_text())
    assert manifest["finlab_version"] == finlab.__version__
    assert manifest["scenario"]["population"]["persons"] == 400
    assert manifest["row_counts"]["transactions"] == manifest["row_counts"]["labels/transactions"]
    assert set(manifest["checksums"]) >= {"transactions/part-00000.parquet",
                                          "labels/transactions/part-00002.parquet",
                                          "labels/cases.parquet"}


def test_integrity(tiny_dataset):
    assert tiny_dataset.validate() == []
    tx = tiny_dataset.transactions
    assert len(tx) > 5_000
    assert (tx["amount"] > 0).all() and (tx["amount_base"] > 0).all()
    start = pd.Timestamp("2025-01-01", tz="UTC")
    assert tx["ts"].min() >= start and tx["ts"].max() < start + pd.Timedelta(days=30)
    assert tx["txn_id"].is_unique


def test_without_labels_drops_truth(tiny_dataset):
    blind = tiny_dataset.without_labels()
    assert blind.labels is None
    assert blind.transactions is tiny_dataset.transactions


def test_same_seed_identical_files(tiny_scenario, tiny_dataset_dir, tmp_path):
    again = generate(tiny_scenario, tmp_path / "again")
    for f in sorted(tiny_dataset_dir.rglob("*.parquet")):
        rel = f.relative_to(tiny_dataset_dir)
        assert (again / rel).read_bytes() == f.read_bytes(), rel
    assert (again / "manifest.json").read_text() == (tiny_dataset_dir / "manifest.json").read_text()


def test_other_seed_differs(tiny_scenario, tiny_dataset, tmp_path):
    other = finlab.load(generate(tiny_scenario.model_copy(update={"seed": 8}), tmp_path / "o"))
    assert not other.transactions["amount"].head(1000).equals(
        tiny_dataset.transactions["amount"].head(1000))
    assert set(other.accounts["account_id"]).isdisjoint(set(tiny_dataset.accounts["account_id"]))


def test_windows_are_independent(tiny_scenario):
    """A window materialised alone, or after others, gives the same transactions."""
    p = plan(tiny_scenario)
    in_order = [materialize_window(p, w) for w in p.windows]
    alone = materialize_window(plan(tiny_scenario), p.windows[2])
    np.testing.assert_array_equal(alone.ts, in_order[2].ts)
    np.testing.assert_array_equal(alone.amount, in_order[2].amount)
    np.testing.assert_array_equal(alone.dst, in_order[2].dst)


def test_refuses_to_overwrite(tiny_scenario, tiny_dataset_dir):
    import pytest

    from finlab.errors import InputError

    with pytest.raises(InputError, match="already exists"):
        generate(tiny_scenario, tiny_dataset_dir)
