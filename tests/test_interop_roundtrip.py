"""Round trips: finlab -> export -> import keeps what each format can carry (one conformance test
over every registered format and layout); foreign -> import -> export -> import changes nothing;
imports are deterministic and do not depend on block size or on the order of the input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import finlab
from finlab.interop import (
    UNIT_SECONDS,
    ImportOptions,
    export_dataset,
    format_names,
    get_format,
    import_dataset,
)

FIXTURES = Path(__file__).parent / "fixtures" / "interop"


@pytest.fixture(scope="module")
def world(tiny_dataset, tmp_path_factory) -> Path:
    """The tiny world with two more cases (fan_out, cycle) so that several typologies travel."""
    ds = tiny_dataset
    lt = ds.labels.transactions.copy()
    lt["typology"] = lt["typology"].astype(object)
    tx = ds.transactions
    free = lt["typology"].isna().to_numpy() & ~lt["is_suspicious"].to_numpy()
    top = tx.loc[free, "src_account"].value_counts().index[0]  # a busy payer fans out
    fan = np.flatnonzero(free & (tx["src_account"] == top).to_numpy())[:4]
    cyc = np.flatnonzero(free)[len(free) // 2: len(free) // 2 + 3]
    cycle_rows = np.setdiff1d(cyc, fan)
    next_case = int(ds.labels.cases["case_id"].max()) + 1 if len(ds.labels.cases) else 1
    new_cases = []
    for rows, typology, case in ((fan, "fan_out", next_case), (cycle_rows, "cycle", next_case + 1)):
        lt.loc[rows, "is_suspicious"] = True
        lt.loc[rows, "typology"] = typology
        lt.loc[rows, "case_id"] = case
        accounts = pd.unique(np.r_[tx["src_account"].to_numpy()[rows],
                                   tx["dst_account"].to_numpy()[rows]])
        new_cases.append({"case_id": case, "typology": typology,
                          "parameters": json.dumps({"variant": f"test {typology}"}),
                          "first_ts": tx["ts"].iloc[rows].min(),
                          "last_ts": tx["ts"].iloc[rows].max(),
                          "n_accounts": len(accounts), "n_transactions": len(rows)})
    cases = pd.concat([ds.labels.cases.astype({"typology": object}), pd.DataFrame(new_cases)],
                      ignore_index=True)
    labels = finlab.Labels(transactions=lt, accounts=ds.labels.accounts, cases=cases,
                           party_attributes=ds.labels.party_attributes)
    out = tmp_path_factory.mktemp("interop") / "world"
    labelled = finlab.Dataset(ds.countries, ds.banks, ds.parties, ds.accounts, ds.transactions,
                              labels=labels, manifest=ds.manifest)
    assert labelled.validate() == []
    finlab.save(labelled, out)
    return out


CASES = [(name, layout) for name in format_names() for layout in get_format(name).layouts]


def bijective(pairs: pd.DataFrame) -> bool:
    """Each original value goes with exactly one imported value and the other way round."""
    pairs = pairs.drop_duplicates()
    return pairs.iloc[:, 0].is_unique and pairs.iloc[:, 1].is_unique


@pytest.mark.parametrize("name,layout", CASES, ids=[f"{n}-{lay}" for n, lay in CASES])
def test_finlab_export_import_keeps_what_the_format_carries(world, tmp_path, name, layout):
    fmt = get_format(name)
    trip = fmt.roundtrip(layout)
    a = finlab.load(world)
    summary = export_dataset(name, world, tmp_path / "files", layout=layout)
    start = None
    if fmt.steps:
        start = pd.Timestamp(summary["start"], tz="UTC").to_pydatetime()
    import_dataset(name, [tmp_path / "files"], tmp_path / "back",
                   options=ImportOptions(start=start))
    b = finlab.load(tmp_path / "back")
    assert b.validate() == []
    ta, tb = a.transactions, b.transactions
    assert len(ta) == len(tb)
    if "txn_id" in trip["carries"]:  # files split by kind: same rows, same ids, order by id
        ta = ta.sort_values("txn_id", kind="stable").reset_index(drop=True)
        tb = tb.sort_values("txn_id", kind="stable").reset_index(drop=True)
        assert np.array_equal(ta["txn_id"].to_numpy(), tb["txn_id"].to_numpy())
    unit = UNIT_SECONDS[fmt.time_unit]
    ts_a = ta["ts"].dt.floor(f"{unit}s").reset_index(drop=True)
    ts_b = tb["ts"].reset_index(drop=True)
    assert (ts_a == ts_b).all()
    assert np.array_equal(ta["amount"].to_numpy(), tb["amount"].to_numpy())

    def pairs(x, y):
        return pd.DataFrame({"a": x.astype(str).to_numpy(), "b": y.astype(str).to_numpy()})

    acc = pd.concat([pairs(ta["src_account"], tb["src_account"]),
                     pairs(ta["dst_account"], tb["dst_account"])])
    assert bijective(acc)
    if "bank" in trip["carries"]:
        assert bijective(pd.concat([pairs(ta["src_bank"], tb["src_bank"]),
                                    pairs(ta["dst_bank"], tb["dst_bank"])]))
    if "country" in trip["carries"]:
        assert bijective(pd.concat([pairs(ta["src_country"], tb["src_country"]),
                                    pairs(ta["dst_country"], tb["dst_country"])]))
    if "currency" in trip["carries"]:
        assert ta["currency"].astype(str).tolist() == tb["currency"].astype(str).tolist()
    back = ta["channel"].astype(str).map(trip["channel_back"])
    assert (back.to_numpy() == tb["channel"].astype(str).to_numpy()).all()

    la = a.labels.transactions.set_index("txn_id").loc[ta["txn_id"]].reset_index()
    lb = b.labels.transactions.set_index("txn_id").loc[tb["txn_id"]].reset_index()
    flagged_a, flagged_b = la["is_suspicious"].to_numpy(), lb["is_suspicious"].to_numpy()
    assert flagged_a.sum() > 0
    if trip["labels_by"] == "transaction":
        assert np.array_equal(flagged_a, flagged_b)
    else:  # labels per account: rows between two flagged accounts are laundering
        fraud = set(ta.loc[flagged_a, "src_account"]) | set(ta.loc[flagged_a, "dst_account"])
        both = ta["src_account"].isin(fraud) & ta["dst_account"].isin(fraud)
        assert np.array_equal(both.to_numpy(), flagged_b)
        assert (flagged_b >= flagged_a).all()
    if "typology" in trip["carries"]:
        ty_a = la["typology"].astype(object).where(la["typology"].notna(), None)
        ty_b = lb["typology"].astype(object).where(lb["typology"].notna(), None)
        assert ty_a[flagged_a].tolist() == ty_b[flagged_a].tolist()
        if name == "samld":  # SAML-D labels every row: look-alikes keep theirs too
            assert ty_a.tolist() == ty_b.tolist()
    if "case" in trip["carries"]:
        cases = pairs(la.loc[flagged_a, "case_id"], lb.loc[flagged_a, "case_id"])
        assert bijective(cases)
        typ_a = a.labels.cases.set_index("case_id")["typology"]
        typ_b = b.labels.cases.set_index("case_id")["typology"]
        assert (typ_a.loc[la.loc[flagged_a, "case_id"]].to_numpy()
                == typ_b.loc[lb.loc[flagged_a, "case_id"]].to_numpy()).all()


@pytest.mark.parametrize("name,source", [
    ("amlworld", "amlworld"), ("paysim", "paysim"), ("samld", "samld"),
    ("amlsim", "amlsim_new"), ("amlsim", "amlsim_old"),
])
def test_foreign_import_export_import_changes_nothing(tmp_path, name, source):
    """A dataset imported from a format exports back with its own ids, banks and words, so
    importing the export again gives the same dataset."""
    import_dataset(name, [FIXTURES / source], tmp_path / "one")
    one = finlab.load(tmp_path / "one")
    layout = one.manifest["interop"]["layout"]
    summary = export_dataset(name, tmp_path / "one", tmp_path / "files", layout=layout)
    start = pd.Timestamp(summary["start"], tz="UTC").to_pydatetime() if "start" in summary \
        else None
    import_dataset(name, [tmp_path / "files"], tmp_path / "two", options=ImportOptions(
        start=start))
    two = finlab.load(tmp_path / "two")
    same_ids = name == "amlsim" and layout == "new"  # TXN_ID travels; elsewhere ids are lines
    drop = [] if same_ids else ["txn_id"]
    for table in ("transactions",):
        x = one.table(table).drop(columns=drop).reset_index(drop=True)
        y = two.table(table).drop(columns=drop).reset_index(drop=True)
        pd.testing.assert_frame_equal(x.astype(str), y.astype(str))
    for table in ("accounts", "banks", "countries"):
        x, y = one.table(table), two.table(table)
        cols = [c for c in x.columns if c != "opened_at"]
        pd.testing.assert_frame_equal(x[cols].astype(str), y[cols].astype(str))
    lx = one.labels.transactions.drop(columns=drop).astype(str).reset_index(drop=True)
    ly = two.labels.transactions.drop(columns=drop).astype(str).reset_index(drop=True)
    if same_ids:
        lx, ly = lx.sort_values("txn_id").reset_index(drop=True), ly.sort_values(
            "txn_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(lx, ly)
    cx, cy = one.labels.cases, two.labels.cases
    assert cx["typology"].tolist() == cy["typology"].tolist()
    assert cx["n_transactions"].tolist() == cy["n_transactions"].tolist()


def test_samld_sample_exports_back_to_its_own_rows(peer_samples, tmp_path):
    src = peer_samples / "samld" / "SAML-D_sample_1k.csv"
    import_dataset("samld", [src], tmp_path / "ds")
    export_dataset("samld", tmp_path / "ds", tmp_path / "files")
    a = pd.read_csv(src, dtype=str)
    b = pd.read_csv(tmp_path / "files" / "ds_SAML-D.csv", dtype=str)
    for df in (a, b):
        df["Amount"] = df["Amount"].astype(float)
    key = list(a.columns)
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                                  b.sort_values(key).reset_index(drop=True))


def test_amlworld_export_layout(world, tmp_path):
    export_dataset("amlworld", world, tmp_path / "files")
    trans = (tmp_path / "files" / "world_Trans.csv").read_text().splitlines()
    assert trans[0] == ("Timestamp,From Bank,Account,To Bank,Account,Amount Received,"
                        "Receiving Currency,Amount Paid,Payment Currency,Payment Format,"
                        "Is Laundering")
    first = trans[1].split(",")
    assert len(first) == 11 and len(first[0]) == len("2025/01/01 00:02")
    assert first[1].isdigit() and len(first[1]) == 5 and first[1].startswith("0")
    patterns = (tmp_path / "files" / "world_Patterns.txt").read_text()
    assert "BEGIN LAUNDERING ATTEMPT - FAN-OUT: test fan_out\n" in patterns
    assert "END LAUNDERING ATTEMPT - CYCLE\n" in patterns
    accounts = (tmp_path / "files" / "world_accounts.csv").read_text().splitlines()
    assert accounts[0] == "Bank Name,Bank ID,Account Number,Entity ID,Entity Name"
    assert len(accounts) == len(finlab.load(world).accounts) + 1


def test_import_is_deterministic_and_blocks_and_sorting_do_not_matter(tmp_path):
    src = FIXTURES / "amlworld"
    import_dataset("amlworld", [src], tmp_path / "a")
    import_dataset("amlworld", [src], tmp_path / "b")
    sums = [json.loads((tmp_path / d / "manifest.json").read_text())["checksums"] for d in "ab"]
    assert sums[0] == sums[1]  # byte-identical files
    a = finlab.load(tmp_path / "a")
    # tiny blocks (many of them, accounts merged across blocks) and sorting in tiny buckets
    for options in ({"block_size": 300}, {"max_sort_rows": 2}):
        import_dataset("amlworld", [src], tmp_path / "c", force=True,
                       options=ImportOptions(**options))
        c = finlab.load(tmp_path / "c")
        for name in ("transactions", "accounts", "parties", "banks"):
            pd.testing.assert_frame_equal(a.table(name).astype(str), c.table(name).astype(str))
        for name in ("transactions", "accounts", "cases"):
            pd.testing.assert_frame_equal(getattr(a.labels, name).astype(str),
                                          getattr(c.labels, name).astype(str))


@pytest.mark.parametrize("name", format_names())
def test_export_of_a_dataset_without_labels(tmp_path, name):
    import shutil

    import_dataset("samld", [FIXTURES / "samld"], tmp_path / "ds")
    shutil.rmtree(tmp_path / "ds" / "labels")
    export_dataset(name, tmp_path / "ds", tmp_path / "files")
    r = import_dataset(name, [tmp_path / "files"], tmp_path / "back")
    assert r["rows"] == 6 and r["laundering_rows"] == 0
    assert finlab.load(tmp_path / "back").validate() == []
