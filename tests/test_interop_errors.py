"""Bad input to the interop readers: one clear line naming the file and the line, or skipped and
counted with --skip-bad-lines; and the `finlab import`/`finlab export` commands."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from typer.testing import CliRunner

import finlab
from finlab.errors import InputError
from finlab.interop.common import ImportOptions, import_dataset

FIXTURES = Path(__file__).parent / "fixtures" / "interop"
TRANS = (FIXTURES / "amlworld" / "tiny_Trans.csv").read_text().splitlines()
HEADER, ROWS = TRANS[0], TRANS[1:]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def fails(fmt: str, path: Path, tmp_path: Path, **options) -> str:
    with pytest.raises(InputError) as e:
        import_dataset(fmt, [path], tmp_path / "out", options=ImportOptions(**options))
    message = str(e.value)
    assert "\n" not in message
    assert not (tmp_path / "out").exists()
    return message


def test_missing_column(tmp_path):
    f = write(tmp_path / "t.csv", [HEADER.rsplit(",", 1)[0]] + [r.rsplit(",", 1)[0] for r in ROWS])
    assert fails("amlworld", f, tmp_path).startswith(
        f"{f}:1: missing column Is Laundering; an AMLworld transactions file has the columns "
        "Timestamp, From Bank, Account, To Bank, Account,")


def test_extra_column(tmp_path):
    src = (FIXTURES / "samld" / "tiny_samld.csv").read_text().splitlines()
    f = write(tmp_path / "s.csv", [src[0] + ",Note"] + [r + ",x" for r in src[1:]])
    assert fails("samld", f, tmp_path).startswith(f"{f}:1: unexpected column 'Note'; ")


def test_aml_world_single_account_column_is_missing(tmp_path):
    header = HEADER.replace("Account,To Bank,Account", "Account,To Bank,Account2")
    f = write(tmp_path / "t.csv", [header] + ROWS)
    message = fails("amlworld", f, tmp_path)
    assert "missing column Account and unexpected column Account2" in message


def test_wrong_number_of_fields_names_the_line(tmp_path):
    rows = list(ROWS)
    rows[4] += ",extra"
    f = write(tmp_path / "t.csv", [HEADER] + rows)
    assert fails("amlworld", f, tmp_path) == (
        f"{f}:6: 12 fields where 11 are expected; pass --skip-bad-lines to skip such lines")


def test_bad_value_names_the_line_and_column(tmp_path):
    rows = list(ROWS)
    rows[2] = rows[2].replace("14675.57,US Dollar,Reinvestment", "abc,US Dollar,Reinvestment")
    f = write(tmp_path / "t.csv", [HEADER] + rows)
    assert fails("amlworld", f, tmp_path).startswith(f"{f}:4: Amount Paid 'abc' is not a number")


@pytest.mark.parametrize("old,new,what", [
    ("2022/09/01 00:02", "2022-09-01 00:02",
     "Timestamp '2022-09-01 00:02' is not a time like 2022/09/01 00:20"),
    ("Reinvestment,0", "Barter,0", "Payment Format 'Barter' is not one of ACH, Bitcoin, Cash,"),
    ("2806.97,US Dollar,Reinvestment", "2806.97,Dollarz,Reinvestment",
     "Payment Currency 'Dollarz' is not a known currency name"),
    ("Reinvestment,0", "Reinvestment,maybe", "Is Laundering 'maybe' is not 0/1 or true/false"),
    ("2806.97,US Dollar,Reinvestment", "-5,US Dollar,Reinvestment",
     "Amount Paid '-5' is not a positive amount"),
    (",012,80011F990,012", ",,80011F990,012", "From Bank '' is empty"),
])
def test_each_kind_of_bad_value(tmp_path, old, new, what):
    rows = list(ROWS)
    assert old in rows[3]
    rows[3] = rows[3].replace(old, new, 1)
    f = write(tmp_path / "t.csv", [HEADER] + rows)
    assert fails("amlworld", f, tmp_path).startswith(f"{f}:5: {what}")


def test_skip_bad_lines_counts_them(tmp_path):
    rows = list(ROWS)
    rows[1] += ",extra"
    rows[3] = rows[3].replace("2806.97", "x")
    rows[6] = rows[6].replace("2022/09/01", "yesterday")
    f = write(tmp_path / "t.csv", [HEADER] + rows)
    r = import_dataset("amlworld", [f], tmp_path / "out",
                       options=ImportOptions(skip_bad_lines=True))
    assert r["skipped_lines"] == 3 and r["rows"] == 7
    assert r["skipped_examples"][0] == f"{f}:3: 12 fields where 11 are expected"
    ds = finlab.load(tmp_path / "out")
    assert ds.validate() == [] and ds.manifest["interop"]["skipped_lines"] == 3
    assert 5 not in set(ds.transactions["txn_id"])  # line 5 was skipped


def test_line_numbers_across_blocks_and_blank_lines(tmp_path):
    rows = ROWS * 60  # 600 rows over many small blocks
    rows.insert(100, "")  # a blank line is ignored but counted
    assert rows[451].endswith("Reinvestment,0")  # rows[i] is line i + 2
    rows[451] = rows[451].replace("Reinvestment,0", "Reinvestment,2")
    f = write(tmp_path / "t.csv", [HEADER] + rows)
    assert fails("amlworld", f, tmp_path, block_size=4096).startswith(
        f"{f}:453: Is Laundering '2'")
    rows[451] = rows[451].replace("Reinvestment,2", "Reinvestment,0")
    rows[500] += ",x"
    rows[530] += ",y"
    f = write(tmp_path / "t.csv", [HEADER] + rows)
    assert fails("amlworld", f, tmp_path, block_size=4096).startswith(f"{f}:502: 12 fields")
    rows[540] = rows[540].replace("2022/09/01", "2022-09-01")
    f = write(tmp_path / "t.csv", [HEADER] + rows)
    r = import_dataset("amlworld", [f], tmp_path / "ok", options=ImportOptions(
        block_size=4096, skip_bad_lines=True))
    assert r["skipped_lines"] == 3 and r["rows"] == 597
    lines = set(finlab.load(tmp_path / "ok").transactions["txn_id"])
    assert {502, 532, 542}.isdisjoint(lines) and {2, 101, 103, 501, 503, 601} <= lines


def test_patterns_file_structure(tmp_path):
    trans = FIXTURES / "amlworld" / "tiny_Trans.csv"
    good = (FIXTURES / "amlworld" / "tiny_Patterns.txt").read_text().splitlines()
    cases = [
        (good[:3] + good[5:], 4, "BEGIN LAUNDERING ATTEMPT before the previous attempt's END"),
        (good[:-1], 6, "laundering attempt without its END LAUNDERING ATTEMPT line"),
        (good[:5] + ["hello"] + good[5:], 6, "a line outside any laundering attempt"),
        (good[:3] + ["END LAUNDERING ATTEMPT - CYCLE"] + good[4:], 4,
         "END LAUNDERING ATTEMPT names another kind than its BEGIN line"),
        (good[:1] + [good[1].replace("Euro,ACH", "Euro,Telegraph")] + good[2:], 2,
         "Payment Format 'Telegraph' is not one of"),
    ]
    for lines, line, what in cases:
        p = write(tmp_path / "x_Patterns.txt", lines)
        with pytest.raises(InputError, match=None) as e:
            import_dataset("amlworld", [trans, p], tmp_path / "out")
        assert str(e.value).startswith(f"{p}:{line}: {what}"), str(e.value)


def test_unreadable_and_unknown_files(tmp_path):
    missing = tmp_path / "nope.csv"
    assert fails("paysim", missing, tmp_path) == f"{missing}: no such file"
    broken = tmp_path / "t.csv.gz"
    broken.write_bytes(gzip.compress("\n".join([HEADER] + ROWS).encode())[:60])
    assert fails("amlworld", broken, tmp_path).startswith(f"{broken}:")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    assert fails("samld", binary, tmp_path) == f"{binary}:1: not a UTF-8 text file"
    other = write(tmp_path / "o.csv", ["a,b,c", "1,2,3"])
    assert fails("paysim", other, tmp_path).startswith(
        f"{other}:1: not a file of PaySim (it starts")
    empty = write(tmp_path / "e.csv", [])
    assert fails("amlsim", empty, tmp_path).startswith(f"{empty}:1: not a file of AMLSim")
    header_only = write(tmp_path / "h.csv", [HEADER])
    assert fails("amlworld", header_only, tmp_path) == f"{header_only}: no transactions to import"


def test_amlsim_mixed_or_incomplete_layouts(tmp_path, shared_dir):
    old, new = FIXTURES / "amlsim_old", FIXTURES / "amlsim_new"
    with pytest.raises(InputError, match="AMLSim files of one layout expected"):
        import_dataset("amlsim", [old / "nodes.csv", new / "tx.csv"], tmp_path / "o")
    with pytest.raises(InputError, match=r"the AMLSim old layout needs an AMLSim nodes\.csv"):
        import_dataset("amlsim", [old / "transactions.csv"], tmp_path / "o")
    dup = write(tmp_path / "cash_tx.csv", (new / "cash_tx.csv").read_text().splitlines()[:1]
                + ["2,0,1,CASH-OUT,1,9.5,1,1"])
    with pytest.raises(InputError, match="TXN_ID 2 appears 2 times"):
        import_dataset("amlsim", [new / "accounts.csv", new / "tx.csv", dup], tmp_path / "o")


def test_output_rules(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match="already exists; pass --force"):
        import_dataset("samld", [FIXTURES / "samld"], out)
    import_dataset("samld", [FIXTURES / "samld"], out, force=True)
    assert finlab.load(out).validate() == []
    with pytest.raises(InputError, match="--start applies to formats counted in steps"):
        import_dataset("samld", [FIXTURES / "samld"], tmp_path / "x",
                       options=ImportOptions(start=finlab.load(out).transactions["ts"][0]))


# --------------------------------------------------------------------------------------------------
# the commands


@pytest.fixture(scope="module")
def runner_app():
    from finlab.cli import app

    return app


def test_cli_import_and_export(tmp_path, runner_app):
    runner = CliRunner()
    r = runner.invoke(runner_app, ["import", "paysim", str(FIXTURES / "paysim"), "--out",
                                   str(tmp_path / "ds"), "--start", "2020-03-01"])
    assert r.exit_code == 0, r.output
    assert "6 transactions from paysim (3 laundering in 2 cases)" in r.output
    r = runner.invoke(runner_app, ["export", "paysim", str(tmp_path / "ds"), "--out",
                                   str(tmp_path / "exp")])
    assert r.exit_code == 0, r.output
    assert "step 0 is 2020-03-01" in r.output
    assert (tmp_path / "exp" / "ds_paysim.csv").read_text().splitlines()[1].startswith(
        "1,PAYMENT,9839.64,C1231006815,")
    r = runner.invoke(runner_app, ["export", "amlsim", str(tmp_path / "ds"), "--out",
                                   str(tmp_path / "exp2"), "--layout", "sideways"])
    assert r.exit_code == 2 and "unknown layout 'sideways' for amlsim; known: new, old" in r.output


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, runner_app):
    rows = list(ROWS)
    rows[0] += ",extra"
    f = write(tmp_path / "t.csv", [HEADER] + rows)
    runner = CliRunner()
    r = runner.invoke(runner_app, ["import", "amlworld", str(f), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    expected = f"error: {f}:2: 12 fields where 11 are expected; pass --skip-bad-lines to skip"
    assert errors == [expected + " such lines"]
    r = runner.invoke(runner_app, ["import", "amlworld", str(f), "--out", str(tmp_path / "o"),
                                   "--skip-bad-lines"])
    assert r.exit_code == 0 and "skipped 1 bad lines" in r.output
    for args in (["import", "nope", str(f), "--out", "x"],
                 ["import", "paysim", str(f), "--out", "x", "--start", "soon"]):
        r = runner.invoke(runner_app, args)
        assert r.exit_code == 2 and r.output.count("error:") == 1, r.output
