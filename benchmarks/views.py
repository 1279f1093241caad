#!/usr/bin/env python
"""Temporal, inductive and held-out-network average precision of every detector of an experiment
file on one dataset, with 95% bootstrap intervals, printed detector by detector as each finishes
(on a slow or shared machine the first rows come early).

    python benchmarks/views.py --dataset data/default [--experiment experiments/baseline.yaml]
        [--checkpoints 1] [--jsonl out.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cell(m: dict | None, key: str = "average_precision") -> str:
    if not m or m.get(key) is None:
        return "n/a"
    ci = (m.get("intervals") or {}).get(key)
    return f"{m[key]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--experiment", type=Path, default=ROOT / "experiments" / "baseline.yaml")
    ap.add_argument("--checkpoints", type=int, default=1, help="scorings in the test period")
    ap.add_argument("--jsonl", type=Path, help="also append each detector's metrics here")
    args = ap.parse_args()

    import finlab
    from finlab.evaluate.experiment import evaluate_dataset, load_experiment

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}", flush=True)
    exp, _ = load_experiment(args.experiment)
    exp = exp.model_copy(update={"checkpoints": args.checkpoints, "dataset": str(args.dataset)})
    ds = finlab.load(args.dataset)
    print("| detector | temporal AP | inductive AP | held-out networks AP | seconds |")
    print("|---|---|---|---|---|", flush=True)

    def show(run) -> None:
        m = run.metrics
        print(f"| {run.key} | {cell(m['account'])} | {cell(m.get('inductive'))} | "
              f"{cell(m.get('case_split'))} | {run.seconds:.0f} |", flush=True)
        if args.jsonl:
            with args.jsonl.open("a") as f:
                f.write(json.dumps({"detector": run.key, "metrics": m}, default=str) + "\n")

    t0 = time.perf_counter()
    _, _, _, views = evaluate_dataset(exp, ds, exp.seeds[0], on_run=show)
    print(f"views: {json.dumps(views)}")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
