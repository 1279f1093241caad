"""What every `finlab` command shares: the two consoles, the user-error wrapper, progress output
and the tables that print frames and plugin lists.

Nothing here imports a command module, so command modules can import it freely.
"""

from __future__ import annotations

import json
import os
import sys
import time

from rich.console import Console

from finlab.boundary import guarded


def _width() -> int | None:
    """Tables keep their columns readable when output goes to a file or a pipe, where rich
    would otherwise assume 80 columns (COLUMNS still decides when it is set)."""
    return None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160


out = Console(soft_wrap=True, width=_width())
err = Console(stderr=True, soft_wrap=True)


def say(msg: str) -> None:
    """A progress line on stderr, stamped with the time (long runs: experiments, cooperation)."""
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}", highlight=False)


#: every command runs inside the one error boundary (finlab.boundary): expected failures are
#: one line and exit 2 (3 for an unreachable service), anything else one line with a --debug hint
user_errors = guarded


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


def print_json(value) -> None:
    """JSON for scripts on stdout, outside rich (no wrapping, no markup)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
