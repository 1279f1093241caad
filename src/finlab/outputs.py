"""One output policy for every command that writes.

- An existing output is refused unless `force`.
- With `force`, only what finlab wrote is replaced: a directory whose metadata marks it as a finlab
  output (manifest.json of a dataset, metrics.json of a run, cooperation.json, or the hidden
  `.finlab-output.json` of an export or demo folder), or a regular file finlab wrote (Parquet with
  finlab metadata, a PNG or HTML page finlab drew). Never the current directory or one of its
  ancestors, an input or an ancestor of an input, a symbolic link or another non-regular file.
- Names taken from inside files (detector labels, keys) become file names only when they are
  plain names (`safe_name`), and paths built from them stay inside the output (`inside`).

The functions are plain so that every command (and the library) calls the same ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from finlab.errors import InputError

#: the key finlab's metadata files carry, with the kind of output as value
KEY = "finlab_output"
KINDS = ("dataset", "run", "cooperation", "export", "demo")
#: metadata files that may mark a directory as finlab's, in the order they are looked at
METADATA = ("manifest.json", "metrics.json", "cooperation.json", ".finlab-output.json")
MARKER = ".finlab-output.json"
#: what finlab stamps into files it writes (Parquet key-value metadata, PNG text, HTML meta)
STAMP = "finlab"

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class OutputError(InputError):
    """An output path finlab will not write."""


def safe_name(name: str, what: str = "name") -> str:
    """`name` if it can be a file name inside an output: letters, digits, -, _ and ., no
    separators, not . or .., at most 100 characters."""
    if not isinstance(name, str) or not NAME.match(name) or name in (".", ".."):
        raise InputError(f"{what} {name!r}: use letters, digits, -, _ and . only (no / or \\, "
                         "not . or .., at most 100 characters); it names files in the output")
    return name


def inside(root: Path | str, *parts: str) -> Path:
    """root/parts..., refused unless it resolves inside `root` (names are checked first)."""
    root = Path(root)
    for p in parts:
        safe_name(p, "file name")
    path = root.joinpath(*parts)
    real_root, real = root.resolve(), path.resolve()
    if real_root != real and real_root not in real.parents:
        raise InputError(f"{path}: resolves outside {root}; refused")
    return path


def mark(directory: Path, kind: str) -> None:
    """Write the hidden marker that says `directory` is a finlab output of `kind`."""
    from finlab import __version__

    (Path(directory) / MARKER).write_text(
        json.dumps({KEY: kind, "finlab_version": __version__}) + "\n")


def directory_kind(path: Path) -> str | None:
    """The kind of finlab output `path` is (dataset, run, ...), or None if finlab did not write it.
    Datasets written before outputs were marked count too (manifest with version and checksums)."""
    for name in METADATA:
        meta = path / name
        if meta.is_symlink() or not meta.is_file():
            continue
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if data.get(KEY) in KINDS:
            return data[KEY]
        if name == "manifest.json" and "finlab_version" in data and "checksums" in data:
            return "dataset"
    return None


def finlab_wrote_file(path: Path | str) -> bool:
    """True when `path` is a regular file finlab wrote: Parquet with finlab metadata, or a PNG,
    HTML or JSON file carrying finlab's stamp near its start."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            meta = pq.read_schema(path).metadata or {}
        except (pa.ArrowException, OSError):  # unreadable means not ours
            return False
        return STAMP.encode() in meta
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    if head.startswith(b"\x89PNG"):
        return b"Software\x00" + STAMP.encode() in head
    return b'name="generator" content="finlab' in head or f'"{KEY}"'.encode() in head


def _is_within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_output(out: Path | str, *, force: bool, inputs: Iterable[Path | str | None] = (),
                 kind: str = "directory") -> Path:
    """Refuse to write `out` unless the policy allows it; returns `out`. `kind` is "directory"
    or "file". Call it before any work, so nothing is computed for an output that is refused."""
    out = Path(out)
    real = out.resolve()
    cwd = Path.cwd().resolve()
    if _is_within(cwd, real):
        raise OutputError(f"{out}: is the current directory or one of its parents; "
                          "choose a new directory for --out")
    for i in inputs:
        if i is None:
            continue
        ri = Path(i).resolve()
        if _is_within(ri, real):
            raise OutputError(f"{out}: is an input ({i}) or holds one; choose another --out")
    if not os.path.lexists(out):
        if kind == "directory" and real.parent != real and real.parent.is_file():
            raise OutputError(f"{out}: cannot be written (its parent is a file); choose another --out")
        return out
    if out.is_symlink():
        raise OutputError(f"{out}: is a symbolic link; finlab does not write through links")
    if kind == "directory":
        if not out.is_dir():
            raise OutputError(f"{out}: exists and is not a directory; choose another --out")
        if not force:
            raise OutputError(f"{out}: already exists; pass --force to replace it "
                              "(only a directory finlab wrote is replaced)")
        try:
            empty = not any(out.iterdir())
        except OSError as e:
            raise OutputError(f"{out}: cannot be read ({e.strerror})") from None
        if not empty and directory_kind(out) is None:
            raise OutputError(f"{out}: was not written by finlab (no finlab manifest); "
                              "--force replaces only finlab's own outputs; choose another --out")
        return out
    if out.is_dir():
        raise OutputError(f"{out}: is a directory; give a file name")
    if not out.is_file():
        raise OutputError(f"{out}: is not a regular file (a device, pipe or socket); refused")
    if not force:
        raise OutputError(f"{out}: already exists; pass --force to replace it "
                          "(only a file finlab wrote is replaced)")
    if not finlab_wrote_file(out):
        raise OutputError(f"{out}: was not written by finlab; --force replaces only finlab's "
                          "own files; choose another name")
    return out


def publish(built: Path, out: Path | str, trash: Path) -> Path:
    """Move the finished directory `built` onto `out`; an existing `out` (already cleared by
    check_output) is first moved to `trash` (inside the work folder, removed with it)."""
    out = Path(out)
    if os.path.lexists(out):
        if out.is_symlink() or not out.is_dir():
            raise OutputError(f"{out}: appeared while finlab worked and is not a directory; "
                              "the result is not published")
        if any(out.iterdir()) and directory_kind(out) is None:
            raise OutputError(f"{out}: appeared while finlab worked and is not finlab's; "
                              "the result is not published")
        os.replace(out, trash)
    os.replace(built, out)
    shutil.rmtree(trash, ignore_errors=True)
    return out
