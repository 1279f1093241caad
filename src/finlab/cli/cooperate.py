"""`finlab cooperate`: run a cooperation experiment and print the table of levels."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from finlab.cli.console import frame_table, out, say, user_errors


@user_errors
def cooperate(
    experiment: Annotated[Path, typer.Argument(help="A cooperation experiment YAML file.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the results.")],
    dataset: Annotated[Path | None, typer.Option(
        help="Use this labelled dataset directory instead of the experiment's data.")] = None,
    tracking_uri: Annotated[str | None, typer.Option(
        help="mlflow tracking URI (default: sqlite:///mlflow.db here).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a cooperation run finlab "
                                        "wrote in OUT (never another directory).")] = False,
    workers: Annotated[int | None, typer.Option(
        help="Run the seeds (or sweep settings) as tasks on a Dask LocalCluster of N "
             "workers.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Run them on an existing Dask cluster (tcp://HOST:PORT).")] = None,
) -> None:
    """Simulate banks and FIUs at cooperation levels L0-L4 (siloed bank, feedback, national
    FIU, cross-border FIUs, pooled) and the experiment's sweeps; write cooperation.json,
    report.html and mlflow runs."""
    from finlab.cooperation.experiment import levels_table, load_cooperation, run_cooperation
    from finlab.engine.cluster import check_engine, maybe_cluster
    from finlab.evaluate.tracking import check_uri
    from finlab.outputs import check_output

    check_uri(tracking_uri)
    check_engine(workers, scheduler)
    check_output(out_dir, force=force, inputs=[experiment, dataset])
    exp, base = load_cooperation(experiment)
    start = time.perf_counter()
    with maybe_cluster(workers, scheduler) as map_tasks:
        result = run_cooperation(exp, base, out_dir, dataset=dataset,
                                 tracking_uri=tracking_uri, force=force, progress=say,
                                 map_tasks=map_tasks)
    out.print(frame_table(levels_table(result), f"{exp.name}: cooperation levels"))
    out.print(f"wrote {out_dir}/cooperation.json and {out_dir}/report.html in "
              f"{time.perf_counter() - start:.0f} s")
