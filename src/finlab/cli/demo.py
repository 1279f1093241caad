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
    force: Annotated[bool, typer.Option("--force", help="Run again in a demo folder finlab "
                                        "made (its world and run are replaced).")] = False,
) -> None:
    """Generate the classroom world, run experiments/baseline.yaml on it, write the report
    and an mlflow run, and say how to open them. Writes only into its own folder."""
    from finlab.config import load_scenario
    from finlab.errors import InputError
    from finlab.generate import generate

    start = time.perf_counter()
    scenario, experiment = ROOT / "synthetic" / "classroom.yaml", \
        ROOT / "experiments" / "baseline.yaml"
    for p in (scenario, experiment):
        if not p.exists():
            raise InputError(f"{p}: missing; finlab demo runs from a clone of the repository")
    demo_folder(out_dir, force, [scenario, experiment])
    data = out_dir / "classroom"
    say(f"generating the classroom world into {data}")
    generate(load_scenario(scenario), data, force=force)
    db = (out_dir / "mlflow.db").absolute()
    uri = f"sqlite:///{db}"
    run_and_print(experiment, out_dir / "baseline", data, uri, force)
    report = (out_dir / "baseline" / "report.html").absolute()
    out.print(f"\nreport: {report}")
    out.print("mlflow UI: MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui "
              f"--backend-store-uri {uri} --host 127.0.0.1 --workers 1")
    out.print(f"demo finished in {time.perf_counter() - start:.0f} s")


def demo_folder(out_dir: Path, force: bool, inputs: list[Path]) -> None:
    """The demo's own folder: new, or (with --force) one an earlier demo made, whose world and
    run are replaced by the usual policy; any other existing path is refused."""
    from finlab.outputs import OutputError, check_output, directory_kind, mark

    check_output(out_dir, force=force, inputs=inputs)
    if out_dir.exists() and any(out_dir.iterdir()) and directory_kind(out_dir) != "demo":
        raise OutputError(f"{out_dir}: is not a folder finlab demo made; choose a new --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    mark(out_dir, "demo")
    for name in ("classroom", "baseline"):
        check_output(out_dir / name, force=force, inputs=inputs)
