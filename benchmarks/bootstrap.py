#!/usr/bin/env python
"""Time of the 95% bootstrap intervals: `--resamples` resamples (default 200) for `--detectors`
score vectors (default 10) on the test period of one dataset (goal: under 30 s on the default
world). Scores are random: the work does not depend on their values. Median of `--repeat` runs.

    python benchmarks/bootstrap.py --dataset data/default
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--detectors", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import numpy as np
    import pandas as pd

    import finlab
    from finlab.evaluate.bootstrap import intervals, resample_weights
    from finlab.evaluate.splits import temporal_split
    from finlab.truth import period_targets

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    ds = finlab.load(args.dataset)
    split = temporal_split(ds)
    targets = period_targets(ds, split.validation_end, split.end)
    n = len(targets.y)
    print(f"test accounts {n:,}, positives {int(targets.y.sum()):,}, "
          f"cases {targets.case_id.nunique():,}")
    rng = np.random.default_rng(0)
    scores = [pd.Series(rng.random(n), index=targets.y.index) for _ in range(args.detectors)]
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        w = resample_weights(targets, args.resamples, seed=0)
        for s in scores:
            intervals(s, targets, w, threshold=0.5, budget=50)
        times.append(time.perf_counter() - t0)
    print(f"{args.resamples} resamples x {args.detectors} detectors: median "
          f"{statistics.median(times):.1f} s (runs: {', '.join(f'{t:.1f}' for t in times)}); "
          "goal < 30 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
