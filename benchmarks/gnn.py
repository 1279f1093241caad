#!/usr/bin/env python
"""Benchmark the graph neural network detectors: training and scoring time and peak memory.

Each run is a fresh subprocess on a generated dataset cut to its first N payments (in time):
the first 60% of its days are the training data (`fit`, which validates on their last fifth,
then trains the chosen number of epochs on all of them), then `score` rates every payment
(gnn_edges) or account (gnn_accounts) on the graph of all N.
It prints the training and scoring seconds (wall clock, and CPU seconds, which a busy shared
machine inflates less), the payments trained on, and the run's peak RSS.
Needs the gnn extra (pip install -e ".[gnn]"). Run it with nice on a shared machine:

    finlab generate synthetic/default.yaml --out data/default     # about 6.9M payments
    nice -n 10 python benchmarks/gnn.py --dataset data/default --rows 1000000 7000000 --repeat 3

Goal from the issue (information only, never a failure): training on the default world (about
7 million payments) in under 20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from detect import machine, run_child

MARKER = "@@finlab-gnn-bench@@ "

CHILD = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore", category=DeprecationWarning)
import finlab
from dataclasses import replace
from finlab.detectors import make_detector
from finlab.evaluate.splits import temporal_split, until

path, rows, name, params = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
ds = finlab.load(path)
if rows and rows < len(ds.transactions):
    ds = replace(ds, transactions=ds.transactions.iloc[:rows])
train = until(ds, temporal_split(ds).train_end)
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
t0, c0 = time.perf_counter(), cpu()
det = make_detector(name, params).fit(train, train.labels)
fit_s, fit_cpu = time.perf_counter() - t0, cpu() - c0
t0, c0 = time.perf_counter(), cpu()
scores = det.score(ds.without_labels())
score_s, score_cpu = time.perf_counter() - t0, cpu() - c0
out = {"detector": name, "transactions": len(ds.transactions), "trained_on": len(train.transactions),
       "scored": len(scores), "fit_s": fit_s, "score_s": score_s, "fit_cpu_s": fit_cpu, "score_cpu_s": score_cpu,
       "validation_ap": [h["validation_ap"] for h in det.history_ if not h.get("refit")],
       "refit_epochs": sum(1 for h in det.history_ if h.get("refit")),
       "rss_after_load_mib": loaded,
       "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print("@@finlab-gnn-bench@@ " + json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True, help="a generated dataset directory")
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 7_000_000],
                    help="first N payments (0 = all); one row of figures per N")
    ap.add_argument("--detectors", nargs="+", default=["gnn_edges", "gnn_accounts"])
    ap.add_argument("--params", default="{}", help="detector parameters as JSON")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the runs as JSON here")
    args = ap.parse_args()
    if not (args.dataset / "manifest.json").exists():
        raise SystemExit(f"{args.dataset}: not a finlab dataset (generate one first)")
    print(f"machine: {machine()}")
    runs = []
    for rows in args.rows:
        for name in args.detectors:
            mine = []
            for i in range(args.repeat):
                r = run_child(CHILD, MARKER, str(args.dataset), str(rows), name, args.params)
                mine.append(r)
                print(f"{name} run {i + 1}: {r['transactions']:,} payments ({r['trained_on']:,} "
                      f"trained on): fit {r['fit_s']:.0f} s ({r['fit_cpu_s']:.0f} CPU s; "
                      f"{len(r['validation_ap'])} epochs, then {r['refit_epochs']} refit), score "
                      f"{r['score_s']:.0f} s ({r['score_cpu_s']:.0f} CPU s; {r['scored']:,} "
                      f"scores), peak {r['peak_rss_mib']:,.0f} MiB "
                      f"({r['rss_after_load_mib']:,.0f} after loading)", flush=True)
            med = {k: statistics.median(r[k] for r in mine)
                   for k in ("fit_s", "score_s", "peak_rss_mib")}
            print(f"{name}, {mine[0]['transactions']:,} payments, median of {len(mine)}: "
                  f"fit {med['fit_s']:.0f} s, score {med['score_s']:.0f} s, "
                  f"peak {med['peak_rss_mib']:,.0f} MiB (goal: train on ~7M in under 1,200 s)\n",
                  flush=True)
            runs += mine
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
