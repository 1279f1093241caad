"""`finlab import` and `finlab export`: other AML datasets' formats in and out of finlab
datasets, streamed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from finlab.cli.console import out, progress_bar, user_errors

FORMAT_HELP = "Format: amlworld, amlsim, paysim or samld."


@user_errors
def import_(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help=FORMAT_HELP)],
    paths: Annotated[list[Path], typer.Argument(
        metavar="PATH...",
        help="The dataset's files, or a directory or .tgz archive holding them.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset directory to write.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a directory finlab wrote "
                                        "(never another directory).")] = False,
    skip_bad_lines: Annotated[bool, typer.Option(
        "--skip-bad-lines", help="Skip and count malformed lines instead of stopping.")]
    = False,
    start: Annotated[str | None, typer.Option(
        help="Date of step 0 for formats counted in steps (amlsim: days, paysim: hours); "
             "default 2017-01-01.")] = None,
) -> None:
    """Read another AML dataset's files into a finlab dataset directory (streamed)."""
    from finlab.interop.common import ImportOptions, import_dataset

    when = parse_start(start)
    bar, report = progress_bar()
    with bar:
        r = import_dataset(fmt, paths, out_dir, force=force, options=ImportOptions(
            skip_bad_lines=skip_bad_lines, start=when, progress=report))
    out.print(
        f"wrote {r['out']}: {r['rows']:,} transactions from {r['format']} "
        f"({r['laundering_rows']:,} laundering in {r['cases']:,} cases) in "
        f"{r['seconds']:.1f} s ({r['rows'] / max(r['seconds'], 1e-9):,.0f} rows/s)")
    if r["skipped_lines"]:
        out.print(f"skipped {r['skipped_lines']:,} bad lines, e.g. {r['skipped_examples'][0]}",
                  markup=False, highlight=False)


@user_errors
def export(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help=FORMAT_HELP)],
    dataset: Annotated[Path, typer.Argument(help="A finlab dataset directory.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the files to.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a directory finlab wrote "
                                        "(never another directory).")] = False,
    layout: Annotated[str | None, typer.Option(
        help="Layout of formats that have several (amlsim: new or old).")] = None,
) -> None:
    """Write a finlab dataset in another AML dataset's format (streamed)."""
    from finlab.interop.common import export_dataset

    bar, report = progress_bar()
    with bar:
        r = export_dataset(fmt, dataset, out_dir, layout=layout, force=force, progress=report)
    out.print(f"wrote {r['out']}: {', '.join(r['files'])} ({r['rows']:,} transactions, "
              f"{r['format']} {r['layout']}) in {r['seconds']:.1f} s")
    if "start" in r:
        out.print(f"step 0 is {r['start']}: import with --start {r['start']} to get the "
                  "same dates back")


def parse_start(start: str | None) -> dt.datetime | None:
    """`--start 2017-01-01` as midnight UTC (None without it)."""
    if start is None:
        return None
    from finlab.errors import InputError

    try:
        return dt.datetime.combine(dt.date.fromisoformat(start), dt.time(), dt.UTC)
    except ValueError:
        raise InputError(f"--start {start!r}: expected a date like 2017-01-01") from None
