#!/usr/bin/env python
"""Benchmark what finlab's safety checks cost: checksum verification on load, and the memory
estimate against the measured peak of `finlab generate`.

    finlab generate synthetic/default.yaml --out data/default
    python benchmarks/safety.py --dataset data/default --repeat 5

For the dataset it prints the bytes hashed, the seconds `integrity.verify` takes (streamed SHA-256
on two threads; the file cache is warm after the first run, as it is for a load right after
another), `finlab.load` with and without `verify`, and the share verification adds. The goal:
hashing the default world (~150-220 MB) well under a second or two. Figures are medians; the
machine is described on the first line (it may be shared with other work).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from detect import machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import finlab
    from finlab import integrity
    from finlab.memory import estimate_bytes

    print(f"machine: {machine()} (may be shared with other work)")
    manifest = integrity.read_manifest(args.dataset)
    files = [args.dataset / rel for rel in manifest.get("checksums", {})]
    size = sum(f.stat().st_size for f in files)
    integrity.verify(args.dataset, manifest)  # warm the file cache
    verify = timed(lambda: integrity.verify(args.dataset, manifest), args.repeat)
    plain = timed(lambda: finlab.load(args.dataset, verify=False), args.repeat)
    checked = timed(lambda: finlab.load(args.dataset), args.repeat)
    v, p, c = (statistics.median(x) for x in (verify, plain, checked))
    print(f"dataset {args.dataset}: {len(files)} files, {size / 1e6:.0f} MB")
    print(f"verify checksums: {v:.3f} s median of {args.repeat} ({size / 1e6 / v:.0f} MB/s)")
    print(f"finlab.load verify=False: {p:.2f} s; verify=True: {c:.2f} s "
          f"(+{(c - p) / p:.0%})")
    scenario = manifest.get("scenario")
    if scenario:
        from finlab.config import Scenario

        est = estimate_bytes(Scenario.model_validate(scenario))
        print(f"memory estimate for its scenario: {est / 2**20:.0f} MiB (compare with the peak "
              "RSS of `/usr/bin/time -v finlab generate`)")


if __name__ == "__main__":
    main()
