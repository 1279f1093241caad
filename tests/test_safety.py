"""Safety of the user's files: every hostile or careless input of the safety review gives one
line and a non-zero exit, and no byte of the user's data is lost. Each test works in its own
sandbox directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import finlab
from finlab.cli import app
from finlab.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "synthetic"
FIXTURES = ROOT / "tests" / "fixtures" / "interop"

LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
) + "\n"


def invoke(*args, cwd: Path | None = None):
    """The CLI in-process (optionally from `cwd`); a traceback fails the test."""
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, [str(a) for a in args])
    finally:
        os.chdir(old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"finlab {' '.join(map(str, args))} crashed") from result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result


def one_error(result, *needles: str, code: int = 2) -> str:
    """The single `error:` line of a refused command, checked for its exit code and words."""
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert result.exit_code == code, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes: the user's data, to compare after a command."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def no_temporaries(*dirs: Path) -> bool:
    return not any(p.name.startswith(".finlab-tmp-") for d in dirs for p in d.iterdir())


@pytest.fixture(scope="module")
def small_yaml(tmp_path_factory) -> Path:
    data = yaml.safe_load((SYNTHETIC / "classroom.yaml").read_text())
    data["population"].update(persons=300, businesses=25)
    data["period"].update(days=20, window_days=7)
    data["typologies"] = data["typologies"][:2]
    path = tmp_path_factory.mktemp("scenario") / "small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def dataset(tiny_dataset_dir, tmp_path) -> Path:
    """A private copy of the tiny dataset, free to tamper with."""
    copy = tmp_path / "data" / "base"
    shutil.copytree(tiny_dataset_dir, copy)
    return copy


# --- 1. --force replaces only what finlab wrote ----------------------------------------------


def test_generate_force_into_current_directory_is_refused(small_yaml, tmp_path):
    scenario = tmp_path / "classroom.yaml"
    shutil.copy(small_yaml, scenario)
    before = snapshot(tmp_path)
    one_error(invoke("generate", "classroom.yaml", "--out", ".", "--force", cwd=tmp_path),
              "current directory")
    assert snapshot(tmp_path) == before


def test_import_force_into_current_directory_is_refused(tmp_path):
    src = tmp_path / "samld"
    shutil.copytree(FIXTURES / "samld", src)
    before = snapshot(tmp_path)
    one_error(invoke("import", "samld", "samld", "--out", ".", "--force", cwd=tmp_path),
              "current directory")
    assert snapshot(tmp_path) == before


def test_export_force_onto_the_inputs_parent_is_refused(dataset, tmp_path):
    sibling = dataset.parent / "notes.txt"
    sibling.write_text("mine")
    before = snapshot(tmp_path)
    one_error(invoke("export", "samld", dataset, "--out", dataset.parent, "--force"), "input")
    one_error(invoke("export", "samld", dataset, "--out", dataset, "--force"), "input")
    assert snapshot(tmp_path) == before


def test_force_never_replaces_a_users_folder(small_yaml, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "ideas.md").write_text("precious")
    one_error(invoke("generate", small_yaml, "--out", notes, "--force"), "not written by finlab")
    assert (notes / "ideas.md").read_text() == "precious"
    assert no_temporaries(tmp_path)


def test_force_replaces_finlab_outputs(small_yaml, dataset, tmp_path):
    out = tmp_path / "world"
    assert invoke("generate", small_yaml, "--out", out).exit_code == 0
    assert json.loads((out / "manifest.json").read_text())["finlab_output"] == "dataset"
    one_error(invoke("generate", small_yaml, "--out", out), "--force")
    assert invoke("generate", small_yaml, "--out", out, "--force").exit_code == 0
    exported = tmp_path / "exported"
    assert invoke("export", "samld", dataset, "--out", exported).exit_code == 0
    assert invoke("export", "samld", dataset, "--out", exported, "--force").exit_code == 0
    assert (exported / ".finlab-output.json").is_file()
    assert no_temporaries(tmp_path)


def test_dataset_directories_follow_the_umask(small_yaml, tmp_path):
    old = os.umask(0o022)
    try:
        assert invoke("generate", small_yaml, "--out", tmp_path / "w").exit_code == 0
    finally:
        os.umask(old)
    assert (tmp_path / "w").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "w" / "labels").stat().st_mode & 0o777 == 0o755


# --- 2. the demo writes only into its own folder ---------------------------------------------


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    mine = tmp_path / "D" / "classroom"
    mine.mkdir(parents=True)
    (mine / "homework.txt").write_text("mine")
    one_error(invoke("demo", "--out", tmp_path / "D"), "--force")
    one_error(invoke("demo", "--out", tmp_path / "D", "--force"), "not written by finlab")
    assert (mine / "homework.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "D").iterdir()) == ["classroom"]


# --- 3. detect --out ---------------------------------------------------------------------------


def test_detect_refuses_special_files_and_directories(dataset, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    one_error(invoke("detect", dataset, "--detector", "rules", "--out", fifo, "--force"),
              "not a regular file")
    (tmp_path / "folder").mkdir()
    one_error(invoke("detect", dataset, "--detector", "rules", "--out", tmp_path / "folder"),
              "directory")
    mine = tmp_path / "scores.parquet"
    mine.write_bytes(b"not finlab's")
    one_error(invoke("detect", dataset, "--detector", "rules", "--out", mine, "--force"),
              "not written by finlab")
    assert mine.read_bytes() == b"not finlab's"


def test_detect_force_replaces_its_own_scores(dataset, tmp_path):
    out = tmp_path / "s.parquet"
    assert invoke("detect", dataset, "--detector", "rules", "--out", out).exit_code == 0
    one_error(invoke("detect", dataset, "--detector", "rules", "--out", out), "--force")
    assert invoke("detect", dataset, "--detector", "rules", "--out", out, "--force"
                  ).exit_code == 0


# --- 4. names from inside files ----------------------------------------------------------------


def test_detector_labels_cannot_leave_the_output(dataset, tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"name: x\ndataset: {dataset}\ndetectors:\n"
                   "  - {name: rules, label: ../../../x/transactions}\n")
    before = snapshot(dataset)
    line = one_error(invoke("validate", exp), "exp.yaml:4", "label")
    assert "letters, digits" in line
    one_error(invoke("run", exp, "--out", tmp_path / "r"), "label")
    assert snapshot(dataset) == before and not (tmp_path / "r").exists()


def test_safe_name_and_inside():
    from finlab.outputs import inside, safe_name

    assert safe_name("gb-1.v2_x") == "gb-1.v2_x"
    for bad in ("..", ".", "a/b", "a\\b", "", "x" * 101, "a b", "é"):
        with pytest.raises(InputError):
            safe_name(bad)
    with pytest.raises(InputError):
        inside(Path("/tmp/out"), "..")


# --- 5. YAML ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "generate", "run", "rules", "cooperate"])
def test_billion_laughs_is_refused_at_once(command, tmp_path, dataset):
    bad = tmp_path / "laughs.yaml"
    bad.write_text(LAUGHS)
    args = {"validate": ["validate", bad], "generate": ["generate", bad, "--out", tmp_path / "o"],
            "run": ["run", bad, "--out", tmp_path / "o"],
            "rules": ["rules", "check", bad, dataset],
            "cooperate": ["cooperate", bad, "--out", tmp_path / "o"]}[command]
    start = time.perf_counter()
    one_error(invoke(*args), "laughs.yaml:1", "aliases")
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("text, where, words", [
    ("name: a\nname: b\n", ":2", "duplicate key"),
    ("a: " + "[" * 200 + "]" * 200 + "\n", ":1", "nested deeper"),
    ("a: " + "{b: " * 80 + "1" + "}" * 80 + "\n", ":1", "nested deeper"),
])
def test_yaml_refusals(tmp_path, text, where, words):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    one_error(invoke("validate", bad), f"bad.yaml{where}", words)


def test_line_index_never_expands_aliases():
    """The file:line map used to walk aliases with exponential cost; it now refuses them."""
    from finlab.config import line_index

    start = time.perf_counter()
    assert line_index(LAUGHS) == {}
    assert time.perf_counter() - start < 2
    text = "".join(f"k{i}: [1, 2, 3]\n" for i in range(500))
    assert line_index(text)[("k499",)] == 500


# --- 6. values refused before any work ---------------------------------------------------------


def _scenario_variant(small_yaml: Path, tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(small_yaml.read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["fx_rates"].update(NOK=float("inf")), "fx_rates.NOK"),
    (lambda d: d["fx_rates"].update(NOK=-1), "fx_rates.NOK"),
    (lambda d: d["countries"][0].update(locale="xx_XX"), "unknown Faker locale"),
    (lambda d: d.update(seed=-1), "seed"),
    (lambda d: d["typologies"][0].update(count=10**9), "less than or equal to 100000"),
    (lambda d: d["population"].update(persons=40_000_000, businesses=1000), "GiB"),
    (lambda d: d["typologies"][0].update(count=100_000, params={"senders": [10_000, 10_000]}),
     "GiB"),
    (lambda d: d["countries"][0].update(weight=float("nan")), "weight"),
])
def test_bad_values_are_refused_before_any_work(small_yaml, tmp_path, edit, words):
    bad = _scenario_variant(small_yaml, tmp_path, edit)
    for args in (["validate", bad], ["generate", bad, "--out", tmp_path / "o"]):
        one_error(invoke(*args), words)
    assert not (tmp_path / "o").exists() and no_temporaries(tmp_path)


def test_experiment_seeds_in_range(tmp_path, dataset):
    exp = tmp_path / "e.yaml"
    exp.write_text(f"name: x\ndataset: {dataset}\nseeds: [-1]\ndetectors: [{{name: rules}}]\n")
    one_error(invoke("validate", exp), "seeds")


def test_rule_files_resolve_against_the_experiment(tmp_path, dataset):
    sub = tmp_path / "exp"
    sub.mkdir()
    shutil.copy(ROOT / "src" / "finlab" / "rules" / "ocse.yaml", sub / "mine.yaml")
    exp = sub / "e.yaml"
    exp.write_text(f"name: x\ndataset: {dataset}\n"
                   "detectors: [{name: rules, params: {files: [mine.yaml]}}]\n")
    assert invoke("validate", exp, cwd=tmp_path).exit_code == 0
    (sub / "mine.yaml").write_text("name: broken\nscores: 3\n")
    one_error(invoke("validate", exp, cwd=tmp_path), "params.files", "mine.yaml")


# --- 7. integrity --------------------------------------------------------------------------------


def test_tampered_dataset_fails_load_and_audit(dataset):
    target = dataset / "accounts.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(InputError, match="accounts.parquet: differs from its checksum"):
        finlab.load(dataset)
    one_error(invoke("audit", dataset), "accounts.parquet", "checksum")


def test_verify_false_skips_the_check(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["checksums"]["accounts.parquet"] = "0" * 64
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="accounts.parquet"):
        finlab.load(dataset)
    assert len(finlab.load(dataset, verify=False).accounts) > 0


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_broken_parquet_is_one_line(dataset, damage):
    target = dataset / "transactions" / "part-00000.parquet"
    data = target.read_bytes()
    target.write_bytes({"truncate": data[: len(data) // 2], "empty": b"",
                        "garbage": os.urandom(4096)}[damage])
    with pytest.raises(InputError, match="transactions/part-00000.parquet"):
        finlab.load(dataset, verify=False)
    one_error(invoke("audit", dataset, "--no-verify"), "transactions/part-00000.parquet")
    one_error(invoke("audit", dataset), "transactions/part-00000.parquet")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"checksums": 3}', "\xff\xfe"])
def test_invalid_manifest_is_one_line(dataset, text):
    (dataset / "manifest.json").write_text(text, encoding="latin-1")
    one_error(invoke("audit", dataset), "manifest.json")


def test_checksum_entries_cannot_point_outside(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["checksums"]["../../../etc/passwd"] = "0" * 64
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    one_error(invoke("audit", dataset), "outside")


# --- 8. one line instead of a traceback ----------------------------------------------------------


def test_rule_expression_refusals(tmp_path, dataset):
    from finlab.rules.expr import ExpressionError, compile_expression

    for text, words in [("(" * 300 + "1" + ")" * 300 + " > 0", "syntax error"),
                        ("-" * 500 + "1 > 0", "nested"),
                        ("1" + " + 1" * 400 + " > 0", "nested"),
                        ("-" * 5000 + "1 > 0", "longer than"),
                        ("1" + " + 1" * 3000 + " > 0", "longer than"),
                        ("min() > 1", "min() takes"),
                        ("abs(1, 2) > 1", "abs() takes")]:
        with pytest.raises(ExpressionError, match=re.escape(words)):
            compile_expression(text, set(), boolean=True)
    rules = tmp_path / "r.yaml"
    rules.write_text("name: r\nscores:\n  - name: s\n    rules:\n      - id: x\n"
                     "        when: min() > 1\n")
    one_error(invoke("validate", rules), "r.yaml:6", "min() takes")
    one_error(invoke("rules", "check", rules, dataset), "min() takes")


def test_division_by_zero_never_matches():
    import numpy as np

    from finlab.rules.expr import compile_expression

    cols = {"a": np.array([1.0, 5.0, 0.0]), "b": np.array([0.0, 1.0, 0.0])}
    assert compile_expression("a / b > 3", {"a", "b"}).evaluate(cols).tolist() == [
        False, True, False]
    assert compile_expression("not (a / b > 3)", {"a", "b"}).evaluate(cols).tolist() == [
        False, False, False]
    value = compile_expression("a / b", {"a", "b"}).evaluate(cols)
    assert np.isnan(value[0]) and value[1] == 5.0 and np.isnan(value[2])


def test_unwritable_out_for_run_and_cooperate(tmp_path, dataset):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    exp = tmp_path / "e.yaml"
    exp.write_text(f"name: x\ndataset: {dataset}\ndetectors: [{{name: rules}}]\n")
    one_error(invoke("run", exp, "--out", blocker / "out"), "cannot be written")
    coop = tmp_path / "c.yaml"
    coop.write_text(f"name: x\ndataset: {dataset}\ndetectors: [{{name: rules}}]\nlevels: [L0]\n")
    one_error(invoke("cooperate", coop, "--out", blocker / "out"), "cannot be written")


def test_audit_leaves_the_dataset_alone(dataset):
    before = snapshot(dataset)
    os.chmod(dataset, 0o555)
    try:
        result = invoke("audit", dataset)
    finally:
        os.chmod(dataset, 0o755)
    assert result.exit_code in (0, 1), result.stderr
    assert snapshot(dataset) == before


def test_unknown_tracking_scheme_is_refused_before_work(tmp_path, dataset):
    exp = tmp_path / "e.yaml"
    exp.write_text(f"name: x\ndataset: {dataset}\ndetectors: [{{name: rules}}]\n")
    one_error(invoke("run", exp, "--out", tmp_path / "r", "--tracking-uri", "gopher://x"),
              "unknown scheme")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("payload", ['{"detectors": 3}', "[]", '{"detectors": {"a": 3}}',
                                     '{"detectors": {"a": {"account": {"roc_auc": "x"}}}}'])
def test_compare_malformed_metrics(tmp_path, payload):
    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.json").write_text(payload)
    result = invoke("compare", run)
    if result.exit_code != 0:
        one_error(result, "metrics.json")


def test_unexpected_errors_are_one_line_with_a_hint(monkeypatch, tmp_path):
    import finlab.config

    def boom(*a, **k):
        raise RuntimeError("something broke")

    monkeypatch.setattr(finlab.config, "read_yaml", boom)
    (tmp_path / "x.yaml").write_text("a: 1\n")
    line = one_error(invoke("validate", tmp_path / "x.yaml"), "RuntimeError", "--debug", code=1)
    assert "something broke" in line
    result = CliRunner().invoke(app, ["--debug", "validate", str(tmp_path / "x.yaml")])
    assert isinstance(result.exception, RuntimeError)  # --debug lets the traceback through


def test_binary_garbage_import_names_the_line(tmp_path):
    good = (FIXTURES / "paysim" / "tiny_paysim.csv").read_text().splitlines(True)
    path = tmp_path / "g.csv"
    body = "".join(good[1:]) * 2000
    # garbage that starts with a byte UTF-8 never holds: random bytes opening with a newline
    # (1 run in 256) would move the first bad byte to the next line
    path.write_bytes((good[0] + body).encode() + b"\xff" + os.urandom(50_000))
    proc = subprocess.run([sys.executable, "-m", "finlab.cli", "import", "paysim", str(path),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr
    expected = 1 + (len(good) - 1) * 2000 + 1
    assert f"g.csv:{expected}:" in proc.stderr, proc.stderr


# --- 9. temporary work and signals ------------------------------------------------------------


def _generate_process(scenario: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "finlab.cli", "generate", str(scenario),
                             "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_temporary(parent: Path, proc: subprocess.Popen, timeout: float = 60) -> Path:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = [p for p in parent.iterdir() if p.name.startswith(".finlab-tmp-")
                 and (p / "out" / "labels" / "accounts.parquet").exists()]
        if found:
            return found[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("generation never started writing")


@pytest.fixture(scope="module")
def slow_yaml(tmp_path_factory) -> Path:
    """A scenario that takes several seconds to write, so a signal lands mid-generation."""
    data = yaml.safe_load((SYNTHETIC / "classroom.yaml").read_text())
    data["population"].update(persons=15_000, businesses=800)
    data["period"].update(days=120, window_days=3)
    path = tmp_path_factory.mktemp("slow") / "slow.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_sigterm_during_generation_leaves_nothing(slow_yaml, tmp_path):
    proc = _generate_process(slow_yaml, tmp_path / "out")
    _wait_for_temporary(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_sigkill_leftovers_are_swept(slow_yaml, small_yaml, tmp_path):
    proc = _generate_process(slow_yaml, tmp_path / "out")
    tmp = _wait_for_temporary(tmp_path, proc)
    proc.kill()
    proc.wait(timeout=30)
    assert tmp.exists() and not (tmp_path / "out").exists()
    result = invoke("clean", tmp_path)
    assert result.exit_code == 0 and "1 stale" in result.stdout
    assert list(tmp_path.iterdir()) == []
    proc = _generate_process(slow_yaml, tmp_path / "out")
    tmp = _wait_for_temporary(tmp_path, proc)
    proc.kill()
    proc.wait(timeout=30)
    assert invoke("generate", small_yaml, "--out", tmp_path / "next").exit_code == 0
    assert not tmp.exists()  # the next command writing beside it swept it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["next"]


def test_live_temporaries_are_not_swept(tmp_path):
    from finlab.scratch import WorkDir, sweep

    with WorkDir(tmp_path / "x") as work:
        assert sweep(tmp_path) == [] and work.path.exists()
    assert not work.path.exists()


# --- 10. runs ------------------------------------------------------------------------------------


def test_run_refuses_an_out_holding_another_run(tmp_path, dataset):
    out = tmp_path / "r"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps({"finlab_output": "run", "detectors": {}}))
    (out / "scores").mkdir()
    (out / "scores" / "old.parquet").write_bytes(b"old")
    before = snapshot(out)
    exp = tmp_path / "e.yaml"
    exp.write_text(f"name: x\ndataset: {dataset}\ndetectors: [{{name: rules}}]\n")
    one_error(invoke("run", exp, "--out", out), "--force")
    # a forced run that fails leaves the earlier run as it was, and no temporary behind
    (dataset / "transactions" / "part-00000.parquet").write_bytes(b"")
    one_error(invoke("run", exp, "--out", out, "--force"), "transactions/part-00000.parquet")
    assert snapshot(out) == before and no_temporaries(tmp_path)


def test_failed_run_leaves_nothing(tmp_path, dataset):
    (dataset / "accounts.parquet").write_bytes(b"PAR1")
    exp = tmp_path / "e.yaml"
    exp.write_text(f"name: x\ndataset: {dataset}\ndetectors: [{{name: rules}}]\n")
    one_error(invoke("run", exp, "--out", tmp_path / "r"), "accounts.parquet")
    assert not (tmp_path / "r").exists() and no_temporaries(tmp_path)


def test_missing_files_and_stripped_labels(dataset, tmp_path):
    shutil.rmtree(dataset / "labels")  # shared without labels: still a sound dataset
    assert finlab.load(dataset).labels is None
    assert invoke("export", "samld", dataset, "--out", tmp_path / "x").exit_code == 0
    (dataset / "parties.parquet").unlink()
    with pytest.raises(InputError, match="parties.parquet: missing"):
        finlab.load(dataset)
    one_error(invoke("export", "samld", dataset, "--out", tmp_path / "y"), "parties.parquet")
