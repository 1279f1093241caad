"""`finlab validate`, `finlab generate` and `finlab audit`: scenario files in, datasets out,
and the checks on a generated dataset's labels."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from finlab.cli.console import err, frame_table, out, print_json, progress_bar, user_errors
from finlab.errors import FinlabError


@user_errors
def validate(
    file: Annotated[Path, typer.Argument(help="A scenario, experiment or rule YAML file.")],
) -> None:
    """Check a scenario, experiment or rule file and print every error with its place in it."""
    from finlab.config import read_yaml, scenario_errors

    data, text = read_yaml(file)
    if isinstance(data, dict) and "detectors" in data and ("levels" in data or "sweeps" in data
                                                           or "settings" in data):
        from finlab.cooperation.experiment import load_cooperation

        load_cooperation(file)
        out.print(f"{file}: valid cooperation experiment")
        return
    if isinstance(data, dict) and "detectors" in data:
        from finlab.evaluate.experiment import load_experiment

        load_experiment(file)
        out.print(f"{file}: valid experiment")
        return
    if isinstance(data, dict) and "scores" in data:
        from finlab.rules import load_rules

        load_rules(file)
        out.print(f"{file}: valid rule file")
        return
    scenario, errors = scenario_errors(data, text, str(file))
    if errors:
        raise FinlabError("\n".join(errors))
    from finlab.memory import check_fits

    need = check_fits(scenario, str(file))
    out.print(f"{file}: valid (generating needs about {need / 2**30:.1f} GiB of memory)")


def generate_with(sc, out_dir: str, force: bool, report, workers: int | None,
                  scheduler: str | None):
    """Generate in this process, or on Dask when --workers or --scheduler is given."""
    from finlab.generate import generate as run

    if workers is None and scheduler is None:
        return run(sc, out_dir, force=force, progress=report)
    from finlab.engine import cluster
    from finlab.engine.generate import generate_on

    with cluster(workers, scheduler) as client:
        return generate_on(client, sc, out_dir, force=force, progress=report)


def read_manifest(path) -> dict:
    """A written dataset's manifest, from a local directory or a URL."""
    from finlab.remote import filesystem, is_url

    if not is_url(path):
        return json.loads((Path(path) / "manifest.json").read_text())
    fs, base = filesystem(str(path))
    with fs.open_input_stream(f"{base}/manifest.json") as f:
        return json.loads(f.read())


@user_errors
def generate(
    scenario: Annotated[Path, typer.Argument(help="A scenario YAML file.")],
    out_dir: Annotated[str, typer.Option("--out", help="Directory to write the dataset to: a "
                                         "path or a URL (s3://, gs://, hdfs://, memory://).")],
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing dataset finlab "
                                        "wrote (never another directory).")] = False,
    workers: Annotated[int | None, typer.Option(
        help="Generate on a Dask LocalCluster of N workers on this machine.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Generate on an existing Dask cluster (tcp://HOST:PORT).")] = None,
) -> None:
    """Generate a synthetic payment world with its labels into a dataset directory."""
    from finlab.config import load_scenario
    from finlab.memory import check_fits
    from finlab.outputs import check_output
    from finlab.remote import is_url

    sc = load_scenario(scenario, seed=seed)
    if not is_url(out_dir):
        check_output(Path(out_dir), force=force, inputs=[scenario])
    check_fits(sc, str(scenario))
    start = time.perf_counter()
    bar, report = progress_bar()
    with bar:
        path = generate_with(sc, out_dir, force, report, workers, scheduler)
    manifest = read_manifest(path)
    n = manifest["row_counts"].get("transactions", 0)
    secs = time.perf_counter() - start
    out.print(
        f"wrote {path}: {n:,} transactions, {manifest['row_counts']['accounts']:,} accounts "
        f"in {secs:.1f} s ({n / max(secs, 1e-9):,.0f} transactions/s)"
    )


@user_errors
def audit(
    dataset: Annotated[Path, typer.Argument(help="A dataset directory with labels.")],
    plot: Annotated[Path | None, typer.Option(
        help="Also write the distributions as a PNG file here (.png is added if missing).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a PNG finlab drew.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    verify: Annotated[bool, typer.Option(help="Check the dataset's checksums first.")] = True,
) -> None:
    """Check checksums, label integrity, label shares, look-alike overlap and label leakage; exit 1
    on failure. The dataset is only read."""
    import finlab
    from finlab.audit import audit as run_audit
    from finlab.audit import plot_path
    from finlab.outputs import check_output

    if plot is not None:
        plot = check_output(plot_path(plot), force=force, inputs=[dataset], kind="file")
    ds = finlab.load(dataset, verify=verify)
    result = run_audit(ds, plot=plot)
    if as_json:
        print_json({
            "passed": result.passed,
            "problems": result.problems,
            "shares": result.shares,
            "leakage_auc": result.leakage_auc,
            "per_typology": result.per_typology.reset_index(names="typology").to_dict("records")
            if result.per_typology is not None else None,
            "look_alike_overlap": result.look_alike_overlap.to_dict("records")
            if result.look_alike_overlap is not None else None,
        })
    else:
        print_audit(result)
    if not result.passed:
        for problem in result.problems:
            err.print(f"audit failed: {problem}", markup=False, highlight=False)
        raise typer.Exit(1)
    out.print("audit passed")


def print_audit(result) -> None:
    """The audit's tables and figures for people."""
    from finlab.audit import LEAK_AUC_LIMIT

    if result.per_typology is not None:
        out.print(frame_table(result.per_typology.reset_index(names="typology / look-alike"),
                              "Labels per typology"))
        out.print(frame_table(result.per_role.reset_index(names="role"), "Accounts per role"))
        s = result.shares
        out.print(f"suspicious share: {s['suspicious_transactions']:.3%} of transactions, "
                  f"{s['suspicious_accounts']:.3%} of accounts")
    if result.look_alike_overlap is not None:
        out.print(frame_table(result.look_alike_overlap,
                              "OCSE senders vs family-remittance senders (auc 0.5 = alike)"))
    aucs = ", ".join(f"{k} {v:.3f}" for k, v in result.leakage_auc.items())
    out.print(f"leakage probe ROC AUC: {aucs} (limit {LEAK_AUC_LIMIT}; 0.5 = no leak)")
    if result.plot:
        out.print(f"distributions: {result.plot}")
    out.print()


@user_errors
def clean(
    directories: Annotated[list[Path] | None, typer.Argument(
        help="Directories to sweep (default: the current one).")] = None,
) -> None:
    """Remove temporary folders (.finlab-tmp-*) left by finlab commands that were killed."""
    from finlab.scratch import clean as sweep

    removed = sweep(directories or [Path(".")])
    for folder, size in removed:
        out.print(f"removed {folder} ({size / 1e6:.1f} MB)", highlight=False)
    out.print(f"{len(removed)} stale temporary folder(s) removed", highlight=False)
