#!/usr/bin/env python
"""Benchmark features and rules: all account features for N transactions, and the shipped rules.

Each repeat runs in a fresh subprocess on a generated dataset (cut to its first N transactions
with --rows), times building the ledger, every feature group, and evaluating the shipped rule
files (ocse + classic) on the computed features, and reports its peak RSS. Medians are printed.

    python benchmarks/detect.py --dataset data/large --rows 10000000 --repeat 3
    finlab generate synthetic/large.yaml --out data/large   # 16.8M transactions, ~15 s

Goals from the issue (information only, never a failure): all features for 10 million
transactions in under 60 s on 2 cores; rules faster than 1 million transactions per second.

With --payments it times the payment features instead (finlab.features.payments, one row per
payment; goal: 10 million payments in under 3 minutes with peak memory under 8 GiB), at each of
--rows (default 1M and 10M), in --mode strict or window:

    python benchmarks/detect.py --payments --dataset data/large --rows 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "@@finlab-detect-bench@@ "

CHILD = r"""
import json, resource, sys, time
import finlab
from dataclasses import replace
from finlab.features import FEATURE_GROUPS, build_ledger, ledger_features
from finlab.rules import load_rules, SHIPPED

path, rows = sys.argv[1], int(sys.argv[2])
ds = finlab.load(path, labels=False)
if rows and rows < len(ds.transactions):
    ds = replace(ds, transactions=ds.transactions.iloc[:rows])
n = len(ds.transactions)
t0 = time.perf_counter(); lg = build_ledger(ds); ledger_s = time.perf_counter() - t0
groups = {}
frames = []
for g in FEATURE_GROUPS.names():
    t = time.perf_counter(); frames.append(ledger_features(lg, groups=[g]))
    groups[g] = time.perf_counter() - t
import pandas as pd
features = pd.concat(frames, axis=1)
rule_sets = [load_rules(name) for name in SHIPPED]
t = time.perf_counter()
for rs in rule_sets:
    rs.evaluate(features, lg)
rules_s = time.perf_counter() - t
out = {"transactions": n, "accounts": int(lg.n_accounts), "features": features.shape[1],
       "ledger_s": ledger_s, "groups_s": groups,
       "features_s": ledger_s + sum(groups.values()), "rules_s": rules_s,
       "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print("@@finlab-detect-bench@@ " + json.dumps(out))
"""


PAYMENTS_CHILD = r"""
import json, resource, sys, time
import finlab
from dataclasses import replace
from finlab.features.payments import payment_features

path, rows, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ds = finlab.load(path, labels=False)
if rows and rows < len(ds.transactions):
    ds = replace(ds, transactions=ds.transactions.iloc[:rows])
t, c = time.perf_counter(), time.process_time()
f = payment_features(ds, mode=mode)
s, cpu = time.perf_counter() - t, time.process_time() - c
out = {"transactions": len(f), "features": f.shape[1], "seconds": s, "cpu_seconds": cpu,
       "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print("@@finlab-detect-bench@@ " + json.dumps(out))
"""


def payments_main(args) -> None:
    print(f"machine: {machine()}")
    for rows in args.rows:
        runs = [run_child(PAYMENTS_CHILD, MARKER, str(args.dataset), str(rows), args.mode)
                for _ in range(args.repeat)]
        n = runs[0]["transactions"]
        sec = statistics.median(r["seconds"] for r in runs)
        mib = statistics.median(r["peak_rss_mib"] for r in runs)
        cpu = statistics.median(r["cpu_seconds"] for r in runs)
        print(f"payment features ({args.mode}), {n:,} payments x {runs[0]['features']}: median of "
              f"{len(runs)} {sec:.1f} s wall, {cpu:.1f} s CPU ({n / sec:,.0f} payments/s), peak {mib:,.0f} MiB "
              f"(goal at 10M: < 180 s, < 8,192 MiB)")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.1f} GiB, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f}")


def run_child(code: str, marker: str, *args: str) -> dict:
    """Run `code` in a fresh Python (this checkout's finlab) and return the JSON it prints after
    `marker`: every repeat starts cold and its peak RSS is its own."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", code, *args],
                          capture_output=True, text=True, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(marker):
            return json.loads(line[len(marker):])
    raise SystemExit(f"benchmark run failed:\n{proc.stderr[-2000:]}")


def run_once(dataset: Path, rows: int) -> dict:
    return run_child(CHILD, MARKER, str(dataset), str(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True, help="a generated dataset directory")
    ap.add_argument("--rows", type=int, nargs="+", default=None,
                    help="first N transactions (0 = all); several with --payments")
    ap.add_argument("--payments", action="store_true", help="time the payment features")
    ap.add_argument("--mode", choices=["strict", "window"], default="strict")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the runs as JSON here")
    args = ap.parse_args()
    if not (args.dataset / "manifest.json").exists():
        raise SystemExit(f"{args.dataset}: not a finlab dataset (generate one first)")
    if args.payments:
        args.rows = args.rows or [1_000_000, 10_000_000]
        return payments_main(args)
    args.rows = (args.rows or [10_000_000])[0]
    print(f"machine: {machine()}")
    runs = []
    for i in range(args.repeat):
        r = run_once(args.dataset, args.rows)
        runs.append(r)
        print(f"run {i + 1}: {r['transactions']:,} txns, {r['accounts']:,} accounts, "
              f"{r['features']} features in {r['features_s']:.1f} s, rules {r['rules_s']:.2f} s, "
              f"peak {r['peak_rss_mib']:,.0f} MiB")
    med = {k: statistics.median(r[k] for r in runs) for k in ("features_s", "rules_s",
                                                              "peak_rss_mib")}
    n = runs[0]["transactions"]
    groups = {g: statistics.median(r["groups_s"][g] for r in runs) for g in runs[0]["groups_s"]}
    print(f"\nmedian of {len(runs)}: ledger {statistics.median(r['ledger_s'] for r in runs):.1f} s, "
          + ", ".join(f"{g} {s:.1f} s" for g, s in groups.items()))
    print(f"all features: {med['features_s']:.1f} s for {n:,} transactions "
          f"({n / med['features_s']:,.0f} txn/s; goal: 10M in under 60 s)")
    print(f"rules (ocse + classic, on computed features): {med['rules_s']:.2f} s "
          f"({n / med['rules_s']:,.0f} txn/s; goal: > 1,000,000 txn/s)")
    e2e = med["features_s"] + med["rules_s"]
    print(f"rules end to end (ledger + all features + rules): {e2e:.1f} s ({n / e2e:,.0f} txn/s)")
    print(f"peak memory: {med['peak_rss_mib']:,.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
