"""The CLI's one error boundary: every failure becomes one line on stderr and an exit code.

- Expected failures (bad input, files, permissions, memory, tracking) print `error: ...` and exit
  2; an unreachable service (tracking server) exits 3.
- Anything else is a bug: one line naming it, with the hint to rerun with `finlab --debug` to see
  the traceback; exit 1.
- Ctrl-C exits 130, SIGTERM 143 (see finlab.scratch.install_sigterm); temporaries are removed by
  the context managers that made them on the way out.
"""

from __future__ import annotations

import errno
import functools
import os
import sys

from finlab.errors import FinlabError

#: set by `finlab --debug` (or FINLAB_DEBUG=1): let unexpected errors show their traceback
DEBUG = {"on": os.environ.get("FINLAB_DEBUG", "") not in ("", "0")}

EXIT_INPUT = 2
EXIT_UNREACHABLE = 3
EXIT_BUG = 1


def set_debug(on: bool) -> None:
    DEBUG["on"] = DEBUG["on"] or on


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else e.__class__.__name__


def _module(e: BaseException) -> str:
    return type(e).__module__ or ""


def _unreachable(e: BaseException) -> bool:
    if isinstance(e, ConnectionError | TimeoutError):
        return True
    mod = _module(e)
    return mod.startswith(("requests", "urllib3")) and "Connection" in type(e).__name__


def classify(e: BaseException) -> tuple[list[str], int]:
    """(lines to print, exit code) for an exception that reached the CLI."""
    if isinstance(e, FinlabError):
        return [f"error: {line}" for line in str(e).splitlines() or [""]], e.exit_code
    if isinstance(e, KeyboardInterrupt):
        return ["interrupted; nothing was published"], 130
    if _unreachable(e):
        return [f"error: a service is unreachable: {_first_line(e)}"], EXIT_UNREACHABLE
    if _module(e).startswith("mlflow"):
        return [f"error: tracking: {_first_line(e)}"], EXIT_INPUT
    if isinstance(e, MemoryError):
        return ["error: not enough memory for this input; use a smaller scenario or dataset"], \
            EXIT_INPUT
    if isinstance(e, RecursionError):
        return ["error: the input is nested too deeply"], EXIT_INPUT
    if isinstance(e, OSError):
        where = e.filename if e.filename is not None else None
        why = e.strerror or _first_line(e)
        if e.errno == errno.ENOSPC:
            why = "no space left on the device"
        return [f"error: {where}: {why}" if where else f"error: {why}"], EXIT_INPUT
    hint = "(a bug in finlab; rerun with `finlab --debug ...` for the traceback)"
    return [f"error: unexpected {type(e).__name__}: {_first_line(e)} {hint}"], EXIT_BUG


def guarded(fn):
    """Wrap a CLI command in the error boundary."""
    import typer

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except BaseException as e:  # the boundary: everything ends here
            import click

            if isinstance(e, click.exceptions.ClickException | click.exceptions.Exit):
                raise
            if DEBUG["on"] and not isinstance(e, FinlabError | KeyboardInterrupt):
                raise
            lines, code = classify(e)
            for line in lines:
                print(line, file=sys.stderr, flush=True)
            raise typer.Exit(code) from None

    return wrapper
