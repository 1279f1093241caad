"""Fuzzing `finlab validate` with mutated scenario, experiment and rule files: whatever the
mutation, the answer is "valid" (exit 0) or one line per problem (exit 2), never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from finlab.cli import app

ROOT = Path(__file__).resolve().parents[1]
SEEDS = {
    "scenario": (ROOT / "synthetic" / "classroom.yaml").read_text(),
    "rules": (ROOT / "src" / "finlab" / "rules" / "ocse.yaml").read_text(),
    "experiment": (ROOT / "experiments" / "baseline.yaml").read_text(),
}
HOSTILE = [".inf", "-.inf", ".nan", "-1", "0", "1e308", "99999999999999999999999", "&a x", "*a",
           "!!python/object/apply:os.system ['true']", "[", "{", "}", "~", "''", '"\\0"', "yes",
           "[[[[[[[[", "../../../x", "a/b", "min()", "1/0 > 1", "x" * 300, "- - - -", ": :",
           "\t", "'", "{a: 1, a: 2}", "2025-02-30", "\u202e", "\x00"]


@st.composite
def mutated(draw, kind: str) -> str:
    lines = SEEDS[kind].splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "delete", "duplicate", "insert", "indent"]))
        if op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw(st.sampled_from(HOSTILE))}"
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "insert":
            lines.insert(i, draw(st.sampled_from(HOSTILE) | st.text(max_size=20)))
        else:
            lines[i] = "  " + lines[i]
        if not lines:
            lines = [""]
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


def check(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = CliRunner().invoke(app, ["validate", str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback on:\n{text}") from result.exception
    assert result.exit_code in (0, 2), (result.exit_code, result.stderr, text)
    if result.exit_code == 2:
        lines = [x for x in result.stderr.splitlines() if x.strip()]
        assert lines and all(x.startswith("error: ") for x in lines), result.stderr


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_validate_never_tracebacks(kind, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"fuzz-{kind}")

    @settings(max_examples=int(os.environ.get("FINLAB_FUZZ_EXAMPLES", "20")), deadline=None,
              derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(mutated(kind))
    def run(text):
        check(tmp, text)

    run()
