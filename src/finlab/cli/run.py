"""`finlab run` and `finlab compare`: an experiment on temporal splits, and its metrics
side by side across runs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from finlab.cli.console import frame_table, out, say, user_errors

#: metric -> column heading in tables
COLUMNS = {"average_precision": "AP", "roc_auc": "ROC AUC", "f1": "F1",
           "precision_at_budget": "P@budget", "recall_at_budget": "R@budget",
           "median_days_to_detection": "days to detect"}
LEVELS = ("account", "transaction", "case")


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
) -> None:
    """Fit on the training period, pick thresholds on validation, score the test period;
    write metrics.json, scores/, report.html and mlflow runs. OUT appears only when the run
    is complete."""
    from finlab.evaluate.tracking import check_uri
    from finlab.outputs import check_output

    check_uri(tracking_uri)
    check_output(out_dir, force=force, inputs=[experiment, dataset])
    run_and_print(experiment, out_dir, dataset, tracking_uri, force)


@user_errors
def compare(
    dirs: Annotated[list[Path], typer.Argument(help="Result directories of finlab run.")],
    level: Annotated[str, typer.Option(
        help="account, transaction (payments ranked by the higher score of payer and "
             "payee; budget: the payments of the alerted accounts) or case")] = "account",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """One table of the same metrics across runs."""
    table = comparison([(str(d), read_metrics(d)) for d in dirs], level)
    if as_json:
        sys.stdout.write(table.to_json(orient="records", indent=2) + "\n")
        return
    out.print(frame_table(table, f"{level} level, test period"))


def run_and_print(experiment: Path, out_dir: Path, dataset: Path | None,
                  tracking_uri: str | None, force: bool = False):
    """Run an experiment with progress lines, then print its account-level table (also when
    mlflow failed after the results were written)."""
    from finlab.evaluate.experiment import load_experiment, run_experiment
    from finlab.evaluate.tracking import TrackingError

    exp, _ = load_experiment(experiment)
    start = time.perf_counter()
    try:
        result = run_experiment(exp, Path(experiment).absolute().parent, out_dir,
                                dataset=dataset, tracking_uri=tracking_uri, force=force,
                                progress=say)
    except TrackingError:
        out.print(frame_table(comparison([(str(out_dir), read_metrics(out_dir))]),
                              f"{exp.name}: account level, test period"))
        raise
    out.print(frame_table(comparison([(str(out_dir), result.metrics)]),
                          f"{exp.name}: account level, test period"))
    out.print(f"wrote {out_dir}/metrics.json, {out_dir}/scores/, {out_dir}/report.html "
              f"in {time.perf_counter() - start:.0f} s")
    return result


def read_metrics(d: Path) -> dict:
    """The metrics.json of a run directory, or one clear error."""
    from finlab.errors import InputError

    path = Path(d) / "metrics.json"
    if not path.exists():
        raise InputError(f"{path}: missing; is {d} a finlab run directory?")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON (line {e.lineno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot be read ({type(e).__name__})") from None
    detectors = data.get("detectors") if isinstance(data, dict) else None
    if not isinstance(detectors, dict) or not all(
            isinstance(v, dict | None) and all(isinstance(m, dict | None) for m in (v or {}).values())
            for v in detectors.values()):
        raise InputError(f"{path}: not the metrics.json of a finlab run (needs \"detectors\": "
                         "{name: {level: {metric: value}}})")
    return data


def comparison(results: list[tuple[str, dict]], level: str = "account"):
    """Rows of (run, detector) with the headline metrics; mean ± spread where seeds repeat. At
    transaction level the budget column says how many payments each detector's alerts cover."""
    import pandas as pd

    from finlab.errors import InputError

    if level not in LEVELS:
        raise InputError(f"--level: {level!r} is not a level; choose one of {', '.join(LEVELS)}")
    rows = []
    for run_name, metrics in results:
        for name, levels in metrics["detectors"].items():
            m = (levels or {}).get(level)
            row = {"run": run_name, "detector": name}
            for col, heading in COLUMNS.items():
                if level == "transaction" and col == "median_days_to_detection":
                    row["payments reviewed"] = _fmt(m.get("budget") if m else None, 0)
                else:
                    row[heading] = _fmt(m.get(col) if m else None)
            rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value, digits: int = 3) -> str:
    """A metric for a table: a number, mean ± spread over seeds, or n/a (also for values a
    hand-edited metrics.json holds that are neither)."""
    def number(v) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if isinstance(value, dict) and number(value.get("mean")) and number(value.get("std")):
        return f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}"
    if number(value):
        return f"{value:.{digits}f}"
    return "n/a"
