"""Temporary work: one clearly named folder per command, beside its output, cleaned on exit.

Every command that writes does its work in `.finlab-tmp-<output name>-<pid>-<token>/` next to
the output (same file system, so publishing is one rename). The folder holds a marker with the
process id and start time; a folder whose process is gone (killed with SIGKILL, power cut) is
stale and is swept by the next command writing beside it and by `finlab clean`. SIGTERM is
turned into a normal exit (`install_sigterm`), so the folder is removed as on any error.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import time
from pathlib import Path

from finlab.errors import InputError

PREFIX = ".finlab-tmp-"
MARKER = "finlab-tmp.json"
#: a folder without a marker (killed while creating it) is stale after this many seconds
UNMARKED_GRACE_S = 3600


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, ticks: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return ticks is None or _start_ticks(pid) in (None, ticks)


def is_stale(folder: Path) -> bool:
    """True when `folder` is a finlab temporary folder whose process has ended."""
    if folder.is_symlink() or not folder.is_dir() or not folder.name.startswith(PREFIX):
        return False
    try:
        mark = json.loads((folder / MARKER).read_text())
        pid, ticks, host = int(mark["pid"]), mark.get("start"), mark.get("host")
    except (OSError, ValueError, KeyError, TypeError):
        try:
            return time.time() - folder.stat().st_mtime > UNMARKED_GRACE_S
        except OSError:
            return False
    if host not in (None, socket.gethostname()):
        return False  # a process on another machine sharing this folder: cannot tell
    return not _alive(pid, ticks)


def _size(folder: Path) -> int:
    total = 0
    for p in folder.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def sweep(directory: Path | str) -> list[tuple[Path, int]]:
    """Remove stale finlab temporary folders directly inside `directory`; returns (folder, bytes)."""
    directory = Path(directory)
    removed = []
    try:
        children = list(directory.iterdir())
    except OSError:
        return removed
    for child in children:
        if child.name.startswith(PREFIX) and is_stale(child):
            size = _size(child)
            shutil.rmtree(child, ignore_errors=True)
            if not child.exists():
                removed.append((child, size))
    return removed


class WorkDir:
    """A temporary folder beside `out` for one command's work, removed when the block ends.

    Sweeps stale folders beside `out` first. Use `path` for scratch files and `path / "out"` for
    the output being built (see finlab.outputs.publish)."""

    def __init__(self, out: Path | str) -> None:
        self.out = Path(out)
        self.parent = self.out.parent if str(self.out.parent) else Path(".")
        self.path: Path | None = None

    def __enter__(self) -> WorkDir:  # noqa: PYI034
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"{self.out}: cannot be written ({e.strerror})") from None
        sweep(self.parent)
        name = f"{PREFIX}{self.out.name[:40]}-{os.getpid()}-{secrets.token_hex(4)}"
        path = self.parent / name
        try:
            path.mkdir()
            mark = {"pid": os.getpid(), "start": _start_ticks(os.getpid()),
                    "host": socket.gethostname(), "output": str(self.out)}
            (path / MARKER).write_text(json.dumps(mark) + "\n")
        except OSError as e:
            shutil.rmtree(path, ignore_errors=True)
            raise InputError(f"{self.out}: cannot be written ({e.strerror})") from None
        self.path = path
        return self

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def _terminate(signum, frame) -> None:
    """SIGTERM as a clean exit: `finally` blocks and context managers run, temporaries go."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends at once
    raise SystemExit(128 + signal.SIGTERM)


def install_sigterm() -> None:
    """Turn SIGTERM into SystemExit in the main thread (a no-op elsewhere)."""
    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        pass


def clean(directories: list[Path]) -> list[tuple[Path, int]]:
    """`finlab clean`: sweep stale temporary folders in each directory."""
    removed = []
    for d in directories:
        if not Path(d).is_dir():
            raise InputError(f"{d}: no such directory")
        removed += sweep(d)
    return removed


__all__ = ["PREFIX", "WorkDir", "clean", "install_sigterm", "is_stale", "sweep"]
