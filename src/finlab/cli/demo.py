"""`finlab demo`: the classroom world and the baseline experiment in one command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from finlab.cli.console import out, say, user_errors
from finlab.cli.run import run_and_print

ROOT = Path(__file__).resolve().parents[3]  # the repository, for the shipped YAML files


@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write everything.")] =
    Path("finlab-demo"),
) -> None:
    """Generate the classroom world, run experiments/baseline.yaml on it, write the report
    and an mlflow run, and say how to open them."""
    from finlab.config import load_scenario
    from finlab.errors import InputError
    from finlab.generate import generate

    start = time.perf_counter()
    scenario, experiment = ROOT / "synthetic" / "classroom.yaml", \
        ROOT / "experiments" / "baseline.yaml"
    for p in (scenario, experiment):
        if not p.exists():
            raise InputError(f"{p}: missing; finlab demo runs from a clone of the repository")
    data = out_dir / "classroom"
    say(f"generating the classroom world into {data}")
    generate(load_scenario(scenario), data, force=True)
    db = (out_dir / "mlflow.db").absolute()
    uri = f"sqlite:///{db}"
    run_and_print(experiment, out_dir / "baseline", data, uri)
    report = (out_dir / "baseline" / "report.html").absolute()
    out.print(f"\nreport: {report}")
    out.print("mlflow UI: MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui "
              f"--backend-store-uri {uri} --host 127.0.0.1 --workers 1")
    out.print(f"demo finished in {time.perf_counter() - start:.0f} s")
