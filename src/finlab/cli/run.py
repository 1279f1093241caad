"""`finlab run` and `finlab compare`: an experiment on temporal splits, and its metrics
side by side across runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from finlab.cli.console import frame_table, out, say, user_errors
from finlab.evaluate.comparison import comparison, read_metrics


@user_errors
def run(
    experiment: Annotated[Path, typer.Argument(help="An experiment YAML file.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the results.")],
    dataset: Annotated[Path | None, typer.Option(
        help="Use this dataset directory instead of the experiment's data.")] = None,
    tracking_uri: Annotated[str | None, typer.Option(
        help="mlflow tracking URI (default: sqlite:///mlflow.db here).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a run finlab wrote in OUT "
                                        "(never another directory).")] = False,
    workers: Annotated[int | None, typer.Option(
        help="Run the seeds (or sweep settings) as tasks on a Dask LocalCluster of N "
             "workers.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Run them on an existing Dask cluster (tcp://HOST:PORT).")] = None,
) -> None:
    """Fit on the training period, pick thresholds on validation, score the test period;
    write metrics.json, scores/, report.html and mlflow runs. OUT appears only when the run
    is complete."""
    from finlab.engine.cluster import check_engine, maybe_cluster
    from finlab.evaluate.tracking import check_uri
    from finlab.outputs import check_output

    check_uri(tracking_uri)
    check_engine(workers, scheduler)
    check_output(out_dir, force=force, inputs=[experiment, dataset])
    with maybe_cluster(workers, scheduler) as map_tasks:
        run_and_print(experiment, out_dir, dataset, tracking_uri, force, map_tasks)


@user_errors
def compare(
    dirs: Annotated[list[Path], typer.Argument(help="Result directories of finlab run.")],
    level: Annotated[str, typer.Option(
        help="account, transaction (payments ranked by the higher score of payer and "
             "payee; budget: the payments of the alerted accounts), case, or payment (minority F1 "
             "at the validation threshold, recall within a budget of payments)")] = "account",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """One table of the same metrics across runs."""
    table = comparison([(str(d), read_metrics(d)) for d in dirs], level)
    if as_json:
        sys.stdout.write(table.to_json(orient="records", indent=2) + "\n")
        return
    out.print(frame_table(table, f"{level} level, test period"))


def run_and_print(experiment: Path, out_dir: Path, dataset: Path | None,
                  tracking_uri: str | None, force: bool = False, map_tasks=None):
    """Run an experiment with progress lines, then print its account-level table (also when
    mlflow failed after the results were written)."""
    from finlab.evaluate.experiment import load_experiment, run_experiment
    from finlab.evaluate.tracking import TrackingError

    exp, _ = load_experiment(experiment)
    start = time.perf_counter()
    try:
        result = run_experiment(exp, Path(experiment).absolute().parent, out_dir,
                                dataset=dataset, tracking_uri=tracking_uri, force=force,
                                progress=say, map_tasks=map_tasks)
    except TrackingError:
        out.print(frame_table(comparison([(str(out_dir), read_metrics(out_dir))]),
                              f"{exp.name}: account level, test period"))
        raise
    out.print(frame_table(comparison([(str(out_dir), result.metrics)]),
                          f"{exp.name}: account level, test period"))
    out.print(frame_table(comparison([(str(out_dir), result.metrics)], "payment"),
                          f"{exp.name}: payment level, test period"))
    out.print(f"wrote {out_dir}/metrics.json, {out_dir}/scores/, {out_dir}/report.html "
              f"in {time.perf_counter() - start:.0f} s")
    return result
