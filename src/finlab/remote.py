"""Filesystems behind `--out`: a local path, or a URL that pyarrow (s3://, gs://, hdfs://) or
fsspec (memory://, abfs://, ...) opens. Tasks on any machine put their parts through a PartSink,
which names its filesystem by URL so it travels to Dask workers as a short string."""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from finlab.errors import InputError


def is_url(target: Path | str) -> bool:
    """True for a filesystem URL such as s3://bucket/data (file:// and plain paths are local)."""
    return isinstance(target, str) and "://" in target and not target.startswith("file://")


def filesystem(target: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and path of a local path or a URL; one line if none opens it."""
    if not is_url(target):
        return pafs.LocalFileSystem(), str(Path(target.removeprefix("file://")).absolute())
    try:
        return pafs.FileSystem.from_uri(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(target)
    except (ImportError, ValueError) as e:
        raise InputError(f"{target}: no filesystem opens this URL ({e})") from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def join(root: str, rel: str) -> str:
    """`rel` inside `root`, for a local path or a URL alike."""
    return posixpath.join(root, rel) if is_url(root) else str(Path(root) / rel)


@dataclass(frozen=True)
class PartSink:
    """A directory (local path or URL) that tasks put finished files into."""

    root: str

    def put(self, rel: str, data: bytes) -> str:
        """Write `data` to `rel` inside the root (replacing it: a retried task writes the same
        bytes again) and return its SHA-256."""
        fs, base = filesystem(self.root)
        if is_url(self.root):
            path = posixpath.join(base, rel)
            fs.create_dir(posixpath.dirname(path), recursive=True)
        else:  # never recreate a local root that was removed (a run ended under a late task)
            if not Path(base).is_dir():
                raise FileNotFoundError(f"{base}: the output being written is gone")
            path = str(Path(base) / rel)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with fs.open_output_stream(path) as f:
            f.write(data)
        return hashlib.sha256(data).hexdigest()
