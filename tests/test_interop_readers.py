"""Each interop reader against its sample in the peer samples folder (FINLAB_PEER_SAMPLES,
see conftest.py) and against tiny hand-written fixtures."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import finlab
from finlab.interop import ImportOptions, import_dataset
from finlab.interop.accounts import components

FIXTURES = Path(__file__).parent / "fixtures" / "interop"


def imported(fmt: str, paths, out: Path, **options) -> finlab.Dataset:
    """Import, check the result is a sound finlab dataset, and return it."""
    import_dataset(fmt, [str(p) for p in paths], out, options=ImportOptions(**options))
    ds = finlab.load(out)
    assert ds.validate() == []
    return ds


def laundering(ds: finlab.Dataset) -> int:
    return int(ds.labels.transactions["is_suspicious"].sum())


# --------------------------------------------------------------------------------------------------
# the peer samples

PEERS = [  # format, path under peers/, rows, laundering rows, accounts
    ("amlsim", "amlsim/20K_cycle200.tgz", 117_805, 3_686, 20_000),
    ("amlsim", "amlsim/20K_fanin200.tgz", 118_250, 3_435, 20_000),
    ("amlsim", "amlsim/sample_outputs", 45 + 88, 12, 30),
    ("paysim", "paysim/paysim_step1_sample.csv", 2_688, 16, None),
    ("samld", "samld/SAML-D_sample_1k.csv", 1_000, 5, None),
]


@pytest.mark.parametrize("fmt,rel,rows,flagged,accounts", PEERS, ids=[p[1] for p in PEERS])
def test_peer_sample(peer_samples, tmp_path, fmt, rel, rows, flagged, accounts):
    ds = imported(fmt, [peer_samples / rel], tmp_path / "ds")
    assert len(ds.transactions) == rows
    assert laundering(ds) == flagged
    if accounts is not None:
        assert len(ds.accounts) == accounts
    meta = ds.manifest["interop"]
    assert meta["format"] == fmt and meta["rows"] == rows and meta["laundering_rows"] == flagged
    assert meta["skipped_lines"] == 0
    cases = ds.labels.cases
    assert cases["n_transactions"].sum() == flagged
    lt = ds.labels.transactions
    assert lt.loc[lt["is_suspicious"], "case_id"].notna().all()


def test_amlsim_old_sample_typology_from_metadata(peer_samples, tmp_path):
    ds = imported("amlsim", [peer_samples / "amlsim" / "20K_cycle200.tgz"], tmp_path / "ds")
    assert set(ds.labels.cases["typology"]) == {"cycle"}
    assert ds.manifest["interop"]["layout"] == "old"
    # every one of the 945 fraud accounts is labelled (with a case or as a suspect)
    assert ds.labels.accounts["account_id"].nunique() == 945
    assert "deg.png" in ds.manifest["interop"]["ignored_files"]


def test_amlsim_new_sample_alerts_and_cash(peer_samples, tmp_path):
    ds = imported("amlsim", [peer_samples / "amlsim" / "sample_outputs"], tmp_path / "ds")
    assert ds.manifest["interop"]["layout"] == "new"
    assert list(ds.labels.cases["typology"]) == ["cycle"]
    assert (ds.transactions["channel"] == "cash").sum() == 88
    assert set(ds.transactions["reference"].astype(str)) >= {"CASH-OUT", "CASH-IN", "WIRE"}
    fraud = {20, 24, 25, 26}
    tx = ds.transactions
    both = tx["src_account"].isin(fraud) & tx["dst_account"].isin(fraud)
    assert (ds.labels.transactions["is_suspicious"].to_numpy() == both.to_numpy()).all()


def test_paysim_sample_pairs_transfer_and_cash_out(peer_samples, tmp_path):
    ds = imported("paysim", [peer_samples / "paysim" / "paysim_step1_sample.csv"],
                  tmp_path / "ds")
    cases = ds.labels.cases
    assert len(cases) == 9  # 7 TRANSFER + CASH_OUT pairs and 2 lone CASH_OUTs
    assert sorted(cases["n_transactions"]) == [1, 1] + [2] * 7
    assert set(cases["typology"]) == {"account_takeover"}
    merchants = ds.accounts["kind"] == "merchant"
    assert merchants.sum() == ds.parties["kind"].eq("business").sum() > 0


def test_samld_sample_types(peer_samples, tmp_path):
    ds = imported("samld", [peer_samples / "samld" / "SAML-D_sample_1k.csv"],
                  tmp_path / "ds")
    lt = ds.labels.transactions
    assert sorted(lt.loc[lt["is_suspicious"], "typology"].astype(str)) == [
        "fan_out", "layered_fan_in", "scatter_gather", "smurfing", "smurfing"]
    assert lt.loc[~lt["is_suspicious"], "typology"].astype(str).str.startswith("normal_").all()
    assert {"GB", "IT", "AE"} <= set(ds.countries["country"].astype(str))
    assert ds.countries.set_index("country").loc["GB", "currency"] == "GBP"


# --------------------------------------------------------------------------------------------------
# the tiny fixtures


def test_amlworld_fixture(tmp_path):
    ds = imported("amlworld", [FIXTURES / "amlworld"], tmp_path / "ds")
    tx, lt = ds.transactions, ds.labels.transactions
    assert len(tx) == 10 and laundering(ds) == 5
    assert tx["ts"].is_monotonic_increasing  # the file is not ordered; the dataset is
    assert list(tx["txn_id"][:2]) == [4, 5]  # ids are the source's line numbers
    # bank ids keep their leading zeros; full currency names become codes
    assert {"010", "03208", "001", "0111632"} <= set(ds.banks["bank_id"].astype(str))
    assert set(tx["currency"].astype(str)) == {"USD", "EUR", "BTC"}
    assert tx.loc[tx["txn_id"] == 10, "currency"].item() == "BTC"
    assert tx["ts"].iloc[0] == pd.Timestamp("2022-09-01 00:00", tz="UTC")
    assert set(tx["reference"].astype(str)) == {"Reinvestment", "Cheque", "ACH", "Bitcoin", "Wire"}
    # typologies and cases from the patterns file; laundering rows in no attempt are "lone"
    typ = lt.set_index("txn_id")["typology"].astype(object)
    assert typ[7] == typ[8] == "fan_out" and typ[11] == "cycle" and typ[6] == typ[9] == "lone"
    cases = ds.labels.cases.set_index("typology")
    assert cases.loc["fan_out", "n_transactions"] == 2
    assert json.loads(cases.loc["fan_out", "parameters"])["variant"] == "Max 2-degree Fan-Out"
    assert (ds.labels.cases["typology"] == "lone").sum() == 2
    patterns = ds.manifest["interop"]["patterns"]
    assert patterns == {"attempts": 2, "rows": 4, "rows_not_in_transactions": 1}
    # the accounts file: entities are parties, banks get their names, unused accounts are kept
    names = set(ds.parties["name"].astype(str))
    assert {"Corporation #33520", "Individual #9"} <= names
    assert ds.banks.set_index("bank_id").loc["03208", "name"] == "Second Bank #3208"
    assert len(ds.accounts) == 11
    roles = ds.labels.accounts.groupby("case_id")["role"].apply(set)
    assert roles.loc[2] == {"sender", "receiver"}


def test_amlworld_without_patterns_or_accounts(tmp_path):
    ds = imported("amlworld", [FIXTURES / "amlworld" / "tiny_Trans.csv"], tmp_path / "ds")
    assert set(ds.labels.cases["typology"]) == {"unknown"}
    # laundering rows sharing accounts form a case: 00:06 -> 00:07 -> 00:08 and 00:15 link up
    assert sorted(ds.labels.cases["n_transactions"]) == [1, 4]
    assert ds.manifest["interop"]["typology"].startswith("unknown")


def test_amlworld_gzipped(tmp_path):
    gz = tmp_path / "tiny_Trans.csv.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "amlworld" / "tiny_Trans.csv").read_bytes()))
    ds = imported("amlworld", [gz], tmp_path / "ds")
    assert len(ds.transactions) == 10


def test_paysim_fixture_header_alias_and_steps(tmp_path):
    ds = imported("paysim", [FIXTURES / "paysim"], tmp_path / "ds", start=pd.Timestamp(
        "2020-03-01", tz="UTC").to_pydatetime())
    tx = ds.transactions
    assert tx["ts"].iloc[0] == pd.Timestamp("2020-03-01 01:00", tz="UTC")  # step 1 = one hour in
    assert tx["ts"].iloc[-1] == pd.Timestamp("2020-03-01 05:00", tz="UTC")
    assert list(tx["channel"].astype(str)) == ["card", "transfer", "cash", "cash", "transfer",
                                                "cash"]
    assert laundering(ds) == 3
    assert sorted(ds.labels.cases["n_transactions"]) == [1, 2]
    meta = ds.manifest["interop"]
    assert meta["start"].startswith("2020-03-01")
    assert "oldbalanceOrg" in meta["dropped_fields"] and "countries" in meta["missing_fields"]


def test_samld_fixture_date_and_time(tmp_path):
    ds = imported("samld", [FIXTURES / "samld"], tmp_path / "ds")
    tx = ds.transactions
    assert tx["ts"].iloc[0] == pd.Timestamp("2022-10-07 09:00:00", tz="UTC")
    assert tx["ts"].iloc[-1] == pd.Timestamp("2022-10-08 23:59:59", tz="UTC")
    assert set(tx["src_country"].astype(str)) == {"GB", "ES"}
    acc = ds.accounts.set_index("account_id")
    receiver = tx.loc[tx["txn_id"] == 3, "dst_account"].item()
    assert acc.loc[receiver, "currency"] == "AED" and acc.loc[receiver, "country"] == "AE"
    cases = ds.labels.cases.set_index("typology")
    assert cases.loc["layered_fan_in", "n_transactions"] == 2  # linked by account 9600420220


def test_no_laundering_rows(tmp_path):
    src = (FIXTURES / "paysim" / "tiny_paysim.csv").read_text().splitlines()
    f = tmp_path / "clean.csv"
    f.write_text("\n".join([src[0]] + [r[:-1] + "0" for r in src[1:]]) + "\n")
    ds = imported("paysim", [f], tmp_path / "ds")
    assert laundering(ds) == 0 and ds.labels.cases.empty and ds.labels.accounts.empty


def test_amlsim_old_fixture(tmp_path):
    ds = imported("amlsim", [FIXTURES / "amlsim_old"], tmp_path / "ds")
    lt = ds.labels.transactions.set_index("txn_id")
    assert list(lt.index[lt["is_suspicious"]]) == [3, 4, 5]  # 1->2->3->1, all fraud accounts
    assert list(ds.labels.cases["typology"]) == ["cycle"]  # "patterns: 1 cycles"
    assert ds.accounts["account_id"].tolist() == [0, 1, 2, 3, 4, 5]  # AMLSim's own ids
    suspect = ds.labels.accounts.set_index("account_id").loc[5]
    assert suspect["role"] == "suspect" and pd.isna(suspect["case_id"])


def test_amlsim_new_fixture(tmp_path):
    ds = imported("amlsim", [FIXTURES / "amlsim_new"], tmp_path / "ds")
    tx = ds.transactions.set_index("txn_id")
    assert sorted(tx.index) == [1, 2, 3, 4, 10, 11, 12]  # TXN_ID of tx.csv and cash_tx.csv
    assert tx.loc[4, "src_country"] == "JP" and tx.loc[4, "dst_country"] == "US"
    assert tx.loc[1, "channel"] == "cash" and tx.loc[1, "reference"] == "CASH-OUT"
    lt = ds.labels.transactions.set_index("txn_id")
    assert sorted(lt.index[lt["is_suspicious"]]) == [4, 10, 11]
    parties = ds.parties.set_index("party_id")
    owner = ds.accounts.set_index("account_id").loc[2, "party_id"]
    assert parties.loc[owner, "kind"] == "business" and parties.loc[owner, "name"] == "C_2"


def test_archive_and_directory_give_the_same_dataset(peer_samples, tmp_path):
    src = peer_samples / "amlsim" / "sample_outputs"
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    import tarfile

    with tarfile.open(tmp_path / "outputs.tgz", "w:gz") as tar:
        tar.add(copy, arcname="outputs")
    a = imported("amlsim", [src], tmp_path / "a")
    b = imported("amlsim", [tmp_path / "outputs.tgz"], tmp_path / "b")
    assert a.manifest["checksums"] == b.manifest["checksums"]


def test_components():
    a = np.array([1, 2, 10, 5, 20, 3])
    b = np.array([2, 3, 11, 6, 10, 1])
    assert components(a, b).tolist() == [0, 0, 1, 2, 1, 0]
