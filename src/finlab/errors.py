"""User-facing errors: the CLI prints their message as one line and exits 2, without a traceback."""

from __future__ import annotations


class FinlabError(Exception):
    """A problem the user can fix (bad input file, unwritable path); its message is the whole story."""

    exit_code = 2


class InputError(FinlabError):
    """A file or value given by the user is malformed or out of range."""
