"""`finlab list ...`: the registered behaviours, typologies, detectors and feature groups."""

from __future__ import annotations

from typing import Annotated

import typer

from finlab.cli.console import plugin_rows, print_rows, user_errors

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@user_errors
def list_behaviours(as_json: JsonOption = False) -> None:
    """Ordinary behaviours a scenario can switch on, with their parameters and defaults."""
    from finlab.world.behaviours import BEHAVIOURS

    print_rows(plugin_rows(BEHAVIOURS), as_json)


@user_errors
def list_typologies(as_json: JsonOption = False) -> None:
    """Suspicious typologies and benign look-alikes a scenario can inject, with their defaults."""
    from finlab.typologies import TYPOLOGIES

    rows = plugin_rows(
        TYPOLOGIES, kind=lambda cls: "look-alike" if cls.look_alike else "suspicious")
    print_rows(rows, as_json)


@user_errors
def list_detectors(as_json: JsonOption = False) -> None:
    """Detectors `finlab detect` can run, with their family, level and defaults."""
    from finlab.detectors import DETECTORS
    from finlab.detectors.base import missing_extra

    rows = plugin_rows(DETECTORS, family=lambda c: c.family, level=lambda c: c.level,
                       supervised=lambda c: c.supervised,
                       needs=lambda c: missing_extra(c) or "")
    print_rows(rows, as_json)


@user_errors
def list_features(
    windows: Annotated[str, typer.Option(help="Comma-separated windows in days.")] = "1,7,30,90",
    as_json: JsonOption = False,
) -> None:
    """Account features that rules and models can use, by group."""
    from finlab.features import FEATURE_GROUPS, feature_names

    wins = parse_windows(windows)
    rows = [{"group": g, "features": ", ".join(feature_names(wins, [g]))}
            for g in FEATURE_GROUPS.names()]
    print_rows(rows, as_json)


def parse_windows(text: str) -> tuple[int, ...]:
    """`--windows 1,7,30` as checked whole days."""
    from finlab.errors import InputError
    from finlab.features import check_windows

    try:
        return check_windows(int(w) for w in text.split(","))
    except ValueError:
        raise InputError(f"--windows: comma-separated whole days, got {text!r}") from None
