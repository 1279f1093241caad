"""The `finlab` command end to end: bad input gives one line per problem and exit 2, never a
traceback and never a half-written output; --seed is deterministic; plugins are listed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from finlab.cli import app

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "synthetic"
SHIPPED = sorted([*SYNTHETIC.glob("*.yaml"), *SYNTHETIC.glob("*.yml")])


def invoke(*args: str):
    """Run the CLI in-process; an exception escaping the command would be a traceback."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"finlab {' '.join(map(str, args))} crashed") from result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result


def run(*args: str, cwd: Path):
    """Run the CLI as a real process, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "finlab.cli", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    return proc


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def leftovers(parent: Path, name: str) -> list[Path]:
    """Temporary directories the writer may have left next to the output."""
    if not parent.is_dir():
        return []
    return sorted([*parent.glob(f".{name}.*"), *parent.glob(f".finlab-tmp-{name}-*")])


@pytest.fixture(scope="module")
def small_yaml(tmp_path_factory) -> Path:
    """The classroom scenario cut to 300 persons over 20 days, as a file for the CLI."""
    data = yaml.safe_load((SYNTHETIC / "classroom.yaml").read_text())
    data["population"]["persons"] = 300
    data["population"]["businesses"] = 25
    data["period"].update(days=20, window_days=7)
    data["typologies"] = []  # CLI behaviour only; typologies have their own size requirements
    path = tmp_path_factory.mktemp("scenario") / "small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    invoke("validate", path)  # the fixture itself must be a valid scenario
    return path


def variant(small_yaml: Path, tmp_path: Path, old: str, new: str, name: str = "bad.yaml") -> Path:
    text = small_yaml.read_text()
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


# --- finlab validate ---------------------------------------------------------------------------


def test_validate_valid_file(small_yaml):
    result = invoke("validate", small_yaml)
    assert result.exit_code == 0
    assert "valid" in result.stdout
    assert result.stderr == ""


def test_validate_prints_every_error_with_line_and_path(tmp_path):
    text = (SYNTHETIC / "classroom.yaml").read_text()
    first_country = next(line for line in text.splitlines() if "utc_offset:" in line)
    bad_country = first_country.replace("utc_offset: ", "utc_offset: 99, x_offset: ", 1)
    text = text.replace(first_country, bad_country, 1)
    text = text.replace("  days:", "  days: 0\n  old_days:", 1)
    path = tmp_path / "many.yaml"
    path.write_text(text)
    proc = run("validate", path.name, cwd=tmp_path)
    assert proc.returncode == 2
    lines = error_lines(proc.stderr)
    assert len(lines) == len(proc.stderr.strip().splitlines()), "nothing but error lines"
    expected = {
        "countries[0].utc_offset": line_of(path, "utc_offset: 99"),
        "countries[0].x_offset": line_of(path, "utc_offset: 99"),
        "period.days": line_of(path, "days: 0"),
        "period.old_days": line_of(path, "old_days"),
    }
    assert len(lines) == len(expected)
    for where, line in expected.items():
        prefix = f"error: {path.name}:{line}: {where}: "
        assert any(x.startswith(prefix) for x in lines), (where, lines)


@pytest.mark.parametrize("scenario", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_scenarios_validate(scenario):
    result = invoke("validate", scenario)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


def test_shipped_scenarios_exist():
    assert {p.name for p in SHIPPED} >= {"classroom.yaml", "default.yaml", "large.yaml"}


def test_validate_missing_file(tmp_path):
    result = invoke("validate", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [f"error: {tmp_path / 'nope.yaml'}: no such file"]


# --- finlab generate: bad input ----------------------------------------------------------------

BAD_SCENARIOS = {
    # name: (old text, new text, needle on the faulty line)
    "malformed": ("  window_days: 7", "  window_days: [7", "window_days: [7"),
    "unknown_key": ("  persons: 300", "  persons: 300\n  personz: 3", "personz"),
    "out_of_range": ("  persons: 300", "  persons: -5", "persons: -5"),
    "unknown_behaviour": ("  salary: {}", "  salary: {}\n  flying: {}", "flying"),
    "impossible_date": ("start: 2025-01-01", "start: 2025-13-01", "2025-13-01"),
}


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_generate_bad_scenario(small_yaml, tmp_path, case):
    old, new, needle = BAD_SCENARIOS[case]
    path = variant(small_yaml, tmp_path, old, new)
    out = tmp_path / "out"
    result = invoke("generate", path, "--out", out)
    assert result.exit_code == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, lines
    line = line_of(path, needle)
    # a YAML parser may only notice an unclosed bracket on the next line
    allowed = (line, line + 1) if case == "malformed" else (line,)
    assert any(lines[0].startswith(f"error: {path}:{n}: ") for n in allowed), lines
    assert not out.exists()
    assert leftovers(tmp_path, "out") == []


def test_generate_missing_scenario(tmp_path):
    out = tmp_path / "out"
    result = invoke("generate", tmp_path / "nope.yaml", "--out", out)
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [f"error: {tmp_path / 'nope.yaml'}: no such file"]
    assert not out.exists() and leftovers(tmp_path, "out") == []


def test_generate_out_under_a_regular_file(small_yaml, tmp_path):
    """--out below a path that is a file cannot be written (tests run as root: chmod won't do)."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep me\n")
    proc = run("generate", small_yaml, "--out", blocker / "out", cwd=tmp_path)
    assert proc.returncode == 2
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert str(blocker / "out") in lines[0] and "cannot be written" in lines[0]
    assert blocker.read_text() == "keep me\n"
    assert [p for p in tmp_path.rglob(".out.*")] == [] and leftovers(tmp_path, "out") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_generate_force_over_a_regular_file(small_yaml, tmp_path):
    """--force replaces a dataset directory; an existing regular file is an output that cannot be
    written: one line, exit 2, the file untouched and no temporary directory left behind."""
    target = tmp_path / "data.txt"
    target.write_text("not a dataset\n")
    proc = run("generate", small_yaml, "--out", target, "--force", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and str(target) in lines[0], proc.stderr
    assert target.read_text() == "not a dataset\n"
    assert leftovers(tmp_path, "data.txt") == []


def test_generate_refuses_existing_directory_without_force(small_yaml, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("precious")
    result = invoke("generate", small_yaml, "--out", out)
    assert result.exit_code == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "already exists" in lines[0] and "--force" in lines[0]
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert leftovers(tmp_path, "out") == []


def test_generate_force_replaces_a_dataset(small_yaml, tmp_path):
    out = tmp_path / "out"
    assert invoke("generate", small_yaml, "--out", out).exit_code == 0
    (out / "stale.txt").write_text("old")
    result = invoke("generate", small_yaml, "--out", out, "--force")
    assert result.exit_code == 0, result.stderr
    assert not (out / "stale.txt").exists()
    assert (out / "transactions" / "part-00000.parquet").is_file()
    assert (out / "manifest.json").is_file()
    assert leftovers(tmp_path, "out") == []


@pytest.mark.parametrize("seed", ["-1", str(2**63)])
def test_generate_seed_out_of_range(small_yaml, tmp_path, seed):
    proc = run("generate", small_yaml, "--out", tmp_path / "out", "--seed", seed, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "seed" in lines[0].lower(), proc.stderr
    assert not (tmp_path / "out").exists() and leftovers(tmp_path, "out") == []


class Interrupt(BaseException):
    """Stands in for Ctrl-C or a crash in the middle of writing."""


@pytest.mark.parametrize("exc", [Interrupt, RuntimeError])
def test_interrupted_generation_leaves_nothing(tiny_scenario, tmp_path, exc):
    from finlab.generate import generate

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "writing transactions" and done == 1:
            raise exc("stop")

    out = tmp_path / "world"
    with pytest.raises(exc):
        generate(tiny_scenario, out, progress=progress)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_interrupted_regeneration_keeps_the_old_dataset(tiny_scenario, tmp_path):
    from finlab.generate import generate

    out = generate(tiny_scenario, tmp_path / "world")
    before = {p.name: p.read_bytes() for p in out.glob("*.parquet")}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "writing transactions" and done == 2:
            raise Interrupt()

    with pytest.raises(Interrupt):
        generate(tiny_scenario.model_copy(update={"seed": 99}), out, force=True, progress=progress)
    assert {p.name: p.read_bytes() for p in out.glob("*.parquet")} == before
    assert leftovers(tmp_path, "world") == []


# --- finlab generate: determinism ---------------------------------------------------------------


def test_same_seed_gives_identical_files(small_yaml, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, "5"), (b, "5"), (c, "6")):
        result = invoke("generate", small_yaml, "--out", out, "--seed", seed)
        assert result.exit_code == 0, result.stderr
        assert "wrote" in result.stdout
    part = Path("transactions") / "part-00000.parquet"
    assert (a / part).read_bytes() == (b / part).read_bytes()
    for f in sorted(a.rglob("*.parquet")):
        assert (b / f.relative_to(a)).read_bytes() == f.read_bytes(), f
    assert (a / part).read_bytes() != (c / part).read_bytes()
    assert json.loads((a / "manifest.json").read_text())["seed"] == 5
    assert json.loads((c / "manifest.json").read_text())["seed"] == 6


def test_seed_option_equal_to_the_scenario_seed_changes_nothing(small_yaml, tmp_path):
    own = yaml.safe_load(small_yaml.read_text())["seed"]
    assert invoke("generate", small_yaml, "--out", tmp_path / "a").exit_code == 0
    assert invoke("generate", small_yaml, "--out", tmp_path / "b", "--seed", own).exit_code == 0
    part = Path("transactions") / "part-00000.parquet"
    assert (tmp_path / "a" / part).read_bytes() == (tmp_path / "b" / part).read_bytes()


# --- finlab list -------------------------------------------------------------------------------


def test_list_behaviours_json():
    from finlab.world.behaviours import BEHAVIOURS

    result = invoke("list", "behaviours", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == sorted(BEHAVIOURS.names())
    assert len(rows) == len(BEHAVIOURS) > 0
    for row in rows:
        cls = BEHAVIOURS.get(row["name"])
        assert set(row["parameters"]) == set(cls.Params.model_fields), row["name"]
        assert row["parameters"] == cls.Params().model_dump(mode="json")
        assert row["description"].strip()
        # what is listed is accepted back as the behaviour's parameters
        assert cls.Params.model_validate(row["parameters"]) == cls.Params()


def test_list_behaviours_table():
    from finlab.world.behaviours import BEHAVIOURS

    result = invoke("list", "behaviours")
    assert result.exit_code == 0
    for name in BEHAVIOURS.names():
        assert name in result.stdout
