#!/usr/bin/env python
"""Benchmark `finlab explain`: the whole command (interpreter, imports, reading, features, rules,
drawing, writing the page) on a few kinds of account of one world.

Each repeat is a fresh `finlab explain` process; the wall time and the peak RSS of that process
are reported, with medians. The accounts: an OCSE facilitator (a fan-in), an OCSE sender, and the
busiest merchant (the largest neighbourhood to fold), found from the labels and the payments.

    finlab generate synthetic/default.yaml --out /tmp/default        # 6.9 million transactions
    python benchmarks/explain.py --dataset /tmp/default --repeat 3

Goal (issue 17): `finlab explain` on the default world in under 10 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from detect import ROOT, machine

GOAL_S = 10.0


def accounts(dataset: Path) -> dict[str, int]:
    """A facilitator, a sender and the busiest merchant of the dataset."""
    import pandas as pd
    import pyarrow.parquet as pq

    la = pd.read_parquet(dataset / "labels" / "accounts.parquet")
    picked = {}
    for role in ("facilitator", "sender"):
        ids = la.loc[la["role"].astype(str) == role, "account_id"]
        if len(ids):
            picked[role] = int(ids.iloc[0])
    acc = pd.read_parquet(dataset / "accounts.parquet", columns=["account_id", "kind"])
    merchants = acc.loc[acc["kind"].astype(str) == "merchant", "account_id"]
    from finlab.io import locate_table

    table = locate_table(dataset, "transactions")
    dst = pq.read_table(table, columns=["dst_account"])["dst_account"]
    counts = pd.Series(dst.to_numpy()).value_counts()
    picked["busiest merchant"] = int(counts.reindex(merchants).idxmax())
    return picked


def run_once(dataset: Path, account: int, out: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one `finlab explain` process. On a shared
    machine the wall time includes waiting for a core; the CPU time does not."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "finlab.cli", "explain", str(dataset),
                           "--account", str(account), "--out", str(out), "--force"],
                          capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"finlab explain failed:\n{proc.stderr[-2000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, usage.ru_utime + usage.ru_stime - cpu_before, max(usage.ru_maxrss, before) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True, help="a labelled dataset directory")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not (args.dataset / "labels").is_dir():
        raise SystemExit(f"{args.dataset}: not a labelled finlab dataset (generate one first)")
    print(f"machine: {machine()}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for what, account in accounts(args.dataset).items():
            out = Path(tmp) / "page.html"
            runs = [run_once(args.dataset, account, out) for _ in range(args.repeat)]
            size = out.stat().st_size / 1024
            med = statistics.median(s for s, _, _ in runs)
            cpu = statistics.median(c for _, c, _ in runs)
            results[what] = med
            print(f"{what} ({account}): wall " + ", ".join(f"{s:.1f}" for s, _, _ in runs)
                  + f" s; median wall {med:.1f} s, CPU {cpu:.1f} s, peak RSS "
                  f"{max(r for _, _, r in runs):,.0f} MiB, page {size:,.0f} KiB, "
                  f"load average now {os.getloadavg()[0]:.1f}")
    worst = max(results.values())
    print(f"\ngoal: finlab explain under {GOAL_S:.0f} s: slowest median wall {worst:.1f} s -> "
          + ("met" if worst < GOAL_S else "NOT met")
          + (" (the machine is busy: wall times include waiting for a core)"
             if os.getloadavg()[0] > (os.cpu_count() or 1) else ""))


if __name__ == "__main__":
    main()
