#!/usr/bin/env python
"""Steady prevalence: the suspicious share of payments in every full 30-day window, as a ratio to
the whole period's share (goal: within 0.75-1.25 on default and large).

    python benchmarks/prevalence.py                       # default and large
    python benchmarks/prevalence.py --scenario classroom --days 15
    python benchmarks/prevalence.py --dataset data/default

Each scenario is generated into a temporary directory (removed afterwards) unless --dataset
names an existing one. Prints the machine, the windows and whether the goal is met.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(path: Path, days: int) -> None:
    import finlab
    from finlab.truth import positive_share_by_window

    ds = finlab.load(path)
    table = positive_share_by_window(ds, days)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.5f}"))
    lo, hi = float(table["ratio"].min()), float(table["ratio"].max())
    ok = 0.75 <= lo and hi <= 1.25
    print(f"ratios {lo:.3f}-{hi:.3f}: {'within' if ok else 'OUTSIDE'} ±25%\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", action="append", help="shipped scenario name(s)")
    ap.add_argument("--dataset", type=Path, help="an existing dataset directory instead")
    ap.add_argument("--days", type=int, default=30, help="window length in days")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    if args.dataset is not None:
        measure(args.dataset, args.days)
        return 0
    from finlab.config import load_scenario
    from finlab.generate import generate

    for name in args.scenario or ["default", "large"]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            generate(load_scenario(ROOT / "synthetic" / f"{name}.yaml"), Path(tmp) / name)
            print(f"== {name} (generated in {time.perf_counter() - t0:.0f} s)")
            measure(Path(tmp) / name, args.days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
