"""The `finlab` command: one group of subcommands over the library's plain functions.

Each command lives in the module of its group (dataset, interop, detect, run, demo, cooperate,
explain, plugins) as a plain function; this module only assembles them into the typer app, so the whole
command tree reads in one place. Heavy imports happen inside the commands so that `finlab --help`
starts fast. User errors print one line each (file, field, what is allowed) and exit with code 2,
never a traceback.
"""

from __future__ import annotations

import typer

from finlab.cli import cooperate, dataset, demo, detect, explain, interop, plugins, run

app = typer.Typer(
    name="finlab",
    help="A lab for anti-money-laundering research on synthetic payment data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
list_app = typer.Typer(help="List the registered plugins.", no_args_is_help=True)
rules_app = typer.Typer(help="Work with indicator rule files.", no_args_is_help=True)

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
