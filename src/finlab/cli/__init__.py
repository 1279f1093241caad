"""The `finlab` command: one group of subcommands over the library's plain functions.

Each command lives in the module of its group (dataset, interop, detect, run, demo, cooperate,
explain, plugins) as a plain function; this module only assembles them into the typer app, so the
whole command tree reads in one place. Heavy imports happen inside the commands so that `finlab --help`
starts fast. Every command runs inside one error boundary (finlab.boundary): user errors print one
line each (file, field, what is allowed) and exit with code 2, never a traceback; `finlab --debug`
shows the traceback of an unexpected error. SIGTERM ends a command like an error (temporaries are
removed).
"""

from __future__ import annotations

from typing import Annotated

import typer

from finlab.boundary import set_debug
from finlab.cli import cooperate, dataset, demo, detect, explain, interop, plugins, run
from finlab.scratch import install_sigterm

app = typer.Typer(
    name="finlab",
    help="A lab for anti-money-laundering research on synthetic payment data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
list_app = typer.Typer(help="List the registered plugins.", no_args_is_help=True)
rules_app = typer.Typer(help="Work with indicator rule files.", no_args_is_help=True)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show the traceback of an unexpected error.")] = False,
) -> None:
    """A lab for anti-money-laundering research on synthetic payment data."""
    set_debug(debug)
    install_sigterm()


app.command()(dataset.validate)
app.command()(dataset.generate)
app.command()(dataset.audit)
app.command("import")(interop.import_)
app.command("export")(interop.export)
app.command()(detect.detect)
app.command()(run.run)
app.command()(run.compare)
app.command()(demo.demo)
app.command()(cooperate.cooperate)
app.command()(dataset.clean)
app.command()(explain.explain)

app.add_typer(list_app, name="list")
list_app.command("behaviours")(plugins.list_behaviours)
list_app.command("typologies")(plugins.list_typologies)
list_app.command("detectors")(plugins.list_detectors)
list_app.command("features")(plugins.list_features)

app.add_typer(rules_app, name="rules")
rules_app.command("check")(detect.rules_check)


def main() -> None:  # pragma: no cover - entry point
    app()


__all__ = ["app", "main"]
