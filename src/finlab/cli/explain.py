"""`finlab explain DATASET --account ID --out FILE.html`: one offline page on an alert."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from finlab.cli.console import out, user_errors


@user_errors
def explain(
    dataset: Annotated[Path, typer.Argument(help="A dataset directory.")],
    out_path: Annotated[Path, typer.Option("--out", help="The HTML page to write.")],
    account: Annotated[str | None, typer.Option(help="The account id to explain.")] = None,
    case: Annotated[str | None, typer.Option(
        "--case", help="A case id (labelled data): draw every account of the case.")] = None,
    hops: Annotated[int, typer.Option(help="How far from the account to draw (1-3).")] = 2,
    days: Annotated[int | None, typer.Option(
        help="Days of payments before --as-of (default 30; a case: its span).")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Cutoff date or time, UTC (default: the end of the data).")] = None,
    detector: Annotated[str, typer.Option(
        help="The detector whose reasons are shown (finlab list detectors).")] = "rules",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing page.")] = False,
) -> None:
    """Write one offline HTML page on an account (or a case): the money flow around it, its
    payments, its features against the population and a detector's reasons."""
    from finlab.explain import write_page

    start = time.perf_counter()
    path = write_page(dataset, out_path, force=force, account=account, case=case, hops=hops,
                      days=days, as_of=as_of, detector=detector)
    out.print(f"wrote {path} in {time.perf_counter() - start:.1f} s")
