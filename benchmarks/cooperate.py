#!/usr/bin/env python
"""Benchmark the cooperation simulation: each level L0-L4 with one detector on one world.

Each repeat runs in a fresh subprocess (cold caches), runs the levels in order as `finlab
cooperate` does (so L1-L3 reuse the banks' scores L0 computed), and reports each level's time and
the peak RSS. Medians are printed.

    finlab generate synthetic/cooperation.yaml --out data/cooperation   # 0.73M transactions
    python benchmarks/cooperate.py --dataset data/cooperation --repeat 3

There is no speed goal in the issue; the figures say what a sweep value costs.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from detect import machine, run_child

MARKER = "@@finlab-cooperate-bench@@ "

CHILD = r"""
import json, resource, sys, time
import finlab
from finlab.cooperation.simulate import LEVELS, Settings, Simulation

path, detector, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ds = finlab.load(path)
sim = Simulation(ds, detector, params, 0)
settings = Settings()
seconds = {}
for level in LEVELS:
    t = time.perf_counter()
    run = sim.run(level, settings)
    seconds[level] = time.perf_counter() - t
out = {"transactions": len(ds.transactions), "banks": len(ds.banks),
       "filings": len(sim.checkpoints(settings)), "seconds": seconds,
       "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print("@@finlab-cooperate-bench@@ " + json.dumps(out))
"""


def run_once(dataset: Path, detector: str, params: str) -> dict:
    return run_child(CHILD, MARKER, str(dataset), detector, params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True, help="a labelled dataset directory")
    ap.add_argument("--detector", default="rules")
    ap.add_argument("--params", default='{"files": ["ocse"]}', help="detector params as JSON")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not (args.dataset / "labels").is_dir():
        raise SystemExit(f"{args.dataset}: not a labelled finlab dataset (generate one first)")
    print(f"machine: {machine()}")
    runs = []
    for i in range(args.repeat):
        r = run_once(args.dataset, args.detector, args.params)
        runs.append(r)
        print(f"run {i + 1}: " + ", ".join(f"{lv} {s:.1f} s" for lv, s in r["seconds"].items())
              + f", peak {r['peak_rss_mib']:,.0f} MiB")
    levels = runs[0]["seconds"]
    med = {lv: statistics.median(r["seconds"][lv] for r in runs) for lv in levels}
    print(f"\nmedian of {len(runs)} ({runs[0]['transactions']:,} transactions, "
          f"{runs[0]['banks']} banks, {runs[0]['filings']} filings, {args.detector}): "
          + ", ".join(f"{lv} {s:.1f} s" for lv, s in med.items())
          + f"; all levels {sum(med.values()):.1f} s; peak "
          f"{statistics.median(r['peak_rss_mib'] for r in runs):,.0f} MiB")


if __name__ == "__main__":
    main()
