"""A dataset's integrity: its manifest.json is valid and its files match the checksums finlab
wrote there. Files are hashed in 1 MiB chunks (memory stays flat) on two threads (hashlib
releases the GIL), so the default world's ~150 MB take a fraction of a second."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from finlab.errors import InputError

CHUNK = 1 << 20


def sha256(path: Path) -> str:
    """The file's SHA-256, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(root: Path, name: str = "manifest.json") -> dict:
    """The dataset's manifest as a dict ({} when absent); one line naming the file if invalid."""
    path = root / name
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{path}: not a valid manifest ({_why(e)}); regenerate the dataset or "
                         "restore the file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a valid manifest (expected a JSON object)")
    checksums = data.get("checksums", {})
    if not isinstance(checksums, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in checksums.items()):
        raise InputError(f"{path}: not a valid manifest (checksums must map file names to text)")
    return data


def _why(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"line {e.lineno}: {e.msg}"
    return type(e).__name__


def verify(root: Path | str, manifest: dict, threads: int = 2) -> None:
    """Raise InputError naming the first file (in manifest order) that is missing or differs
    from the manifest's checksum. Names that would leave the dataset are refused. A dataset
    whose whole labels/ directory was removed (to share it without labels) passes."""
    root = Path(root)
    checksums: dict = manifest.get("checksums") or {}
    real_root = root.resolve()
    paths = {}
    for rel in checksums:
        p = (root / rel).resolve()
        if real_root not in p.parents:
            raise InputError(f"{root / 'manifest.json'}: checksum entry {rel!r} points outside "
                             "the dataset")
        if not p.is_file() and rel.startswith("labels/") and not (root / "labels").exists():
            continue
        if not p.is_file():
            raise InputError(f"{root / rel}: missing, but listed in manifest.json")
        paths[rel] = p
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        digests = dict(zip(paths, pool.map(sha256, paths.values()), strict=True))
    for rel, expected in checksums.items():
        if rel in digests and digests[rel] != expected:
            raise InputError(f"{root / rel}: differs from its checksum in manifest.json (changed "
                             "after finlab wrote it); regenerate the dataset, or load it with "
                             "verify=False / --no-verify to read it anyway")
