"""The `finlab` command: one group of subcommands over the library's plain functions.

Heavy imports happen inside the commands so that `finlab --help` starts fast. User errors print
one line each (file, field, what is allowed) and exit with code 2, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from finlab.errors import FinlabError

app = typer.Typer(
    name="finlab",
    help="A lab for anti-money-laundering research on synthetic payment data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
list_app = typer.Typer(help="List the registered plugins.", no_args_is_help=True)
app.add_typer(list_app, name="list")

def _width() -> int | None:
    """Tables keep their columns readable when output goes to a file or a pipe, where rich
    would otherwise assume 80 columns (COLUMNS still decides when it is set)."""
    import os

    return None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160


out = Console(soft_wrap=True, width=_width())
err = Console(stderr=True, soft_wrap=True)


def say(msg: str) -> None:
    """A progress line on stderr, stamped with the time (long runs: experiments, cooperation)."""
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}", highlight=False)


def user_errors(fn):
    """Turn FinlabError into its message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FinlabError as e:
            for line in str(e).splitlines():
                err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None

    return wrapper


def progress_bar():
    """A rich progress bar driven by finlab's (stage, done, total) callbacks."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=False,
    )
    tasks: dict[str, int] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, report


@app.command()
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
    _, errors = scenario_errors(data, text, str(file))
    if errors:
        raise FinlabError("\n".join(errors))
    out.print(f"{file}: valid")


@app.command()
@user_errors
def generate(
    scenario: Annotated[Path, typer.Argument(help="A scenario YAML file.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the dataset to.")],
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing directory.")] = False,
) -> None:
    """Generate a synthetic payment world with its labels into a dataset directory."""
    from finlab.config import load_scenario
    from finlab.generate import generate as run

    sc = load_scenario(scenario, seed=seed)
    if out_dir.exists() and not force:
        raise FinlabError(f"{out_dir}: already exists; pass --force to replace it")
    start = time.perf_counter()
    bar, report = progress_bar()
    with bar:
        path = run(sc, out_dir, force=force, progress=report)
    manifest = json.loads((path / "manifest.json").read_text())
    n = manifest["row_counts"].get("transactions", 0)
    secs = time.perf_counter() - start
    out.print(
        f"wrote {path}: {n:,} transactions, {manifest['row_counts']['accounts']:,} accounts "
        f"in {secs:.1f} s ({n / max(secs, 1e-9):,.0f} transactions/s)"
    )


@list_app.command("behaviours")
@user_errors
def list_behaviours(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Ordinary behaviours a scenario can switch on, with their parameters and defaults."""
    from finlab.world.behaviours import BEHAVIOURS

    rows = plugin_rows(BEHAVIOURS)
    print_rows(rows, as_json)


@list_app.command("typologies")
@user_errors
def list_typologies(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Suspicious typologies and benign look-alikes a scenario can inject, with their defaults."""
    from finlab.typologies import TYPOLOGIES

    rows = plugin_rows(
        TYPOLOGIES, kind=lambda cls: "look-alike" if cls.look_alike else "suspicious")
    print_rows(rows, as_json)


@app.command()
@user_errors
def audit(
    dataset: Annotated[Path, typer.Argument(help="A dataset directory with labels.")],
    plot: Annotated[Path | None, typer.Option(help="Where to write the distributions PNG.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check label integrity, label shares, look-alike overlap and label leakage; exit 1 on failure."""
    import finlab
    from finlab.audit import LEAK_AUC_LIMIT
    from finlab.audit import audit as run_audit

    ds = finlab.load(dataset)
    plot = plot if plot is not None else dataset / "audit.png"
    result = run_audit(ds, plot=plot)
    if as_json:
        sys.stdout.write(json.dumps({
            "passed": result.passed,
            "problems": result.problems,
            "shares": result.shares,
            "leakage_auc": result.leakage_auc,
            "per_typology": result.per_typology.reset_index(names="typology").to_dict("records")
            if result.per_typology is not None else None,
            "look_alike_overlap": result.look_alike_overlap.to_dict("records")
            if result.look_alike_overlap is not None else None,
        }, indent=2, default=str) + "\n")
    else:
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
    if not result.passed:
        for problem in result.problems:
            err.print(f"audit failed: {problem}", markup=False, highlight=False)
        raise typer.Exit(1)
    out.print("audit passed")


def frame_table(df, title: str):
    """A pandas frame as a rich table."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, col in enumerate(df.columns):
        table.add_column(str(col), justify="right" if df[col].dtype.kind in "if" else "left",
                         no_wrap=i == 0, overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    return table


def plugin_rows(registry, **extra) -> list[dict]:
    """One row per registered plugin: name, any extra columns, first docstring line, defaults."""
    rows = []
    for name in registry:
        cls = registry.get(name)
        rows.append({
            "name": name,
            **{key: describe(cls) for key, describe in extra.items()},
            "description": (cls.__doc__ or "").strip().splitlines()[0],
            "parameters": cls.Params().model_dump(mode="json"),
        })
    return rows


def print_rows(rows: list[dict], as_json: bool) -> None:
    """A table for people, or JSON for scripts."""
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    from rich.table import Table

    table = Table(show_lines=False)
    for key in rows[0] if rows else ["name"]:
        table.add_column(key)
    for row in rows:
        table.add_row(*[
            ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
            for value in row.values()
        ])
    out.print(table)


from finlab.interop.cli import register as _register_interop

_register_interop(app)

from finlab.detectors.cli import register as _register_detectors

_register_detectors(app, list_app)

from finlab.evaluate.cli import register as _register_evaluate

_register_evaluate(app)

from finlab.cooperation.cli import register as _register_cooperation

_register_cooperation(app)

from finlab.explain.command import register as _register_explain

_register_explain(app)


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
