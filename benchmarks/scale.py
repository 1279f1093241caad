#!/usr/bin/env python
"""Benchmark finlab on Dask: generate a world on a LocalCluster, then score it with the rules in
account-hash shards; throughput, peak memory per worker and the ratio to one process.

    python benchmarks/scale.py --factor 6            # synthetic/large.yaml x6: about 100M payments
    python benchmarks/scale.py --factor 0.1 --repeat 3   # a quick check (about 1.7M payments)
    python benchmarks/scale.py --scenario synthetic/classroom.yaml --factor 1

`--factor` scales the scenario's population (persons, businesses, merchants); payments grow in
proportion (synthetic/large.yaml: about 16.8 million payments at factor 1). Above factor 1 the
windows are shortened by the same factor, so one window task holds as many payments as before. Each phase is timed:

  one process   `finlab generate` in a fresh subprocess (its own peak RSS), and the rules on the
                loaded dataset in another (skipped above --single-max payments: one process
                cannot hold them)
  dask N        generate with --workers N on a new LocalCluster of N single-threaded worker
                processes, then the rules in shards on a new one; peak RSS is each worker's own

The Dask output is checked byte for byte against the one-process output (manifest checksums)
when both ran. The goals (from the issue) are printed as information; the script never fails on
them. The machine is printed with the figures; on a shared machine, quote medians of --repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
GiB = 1024**3
GOAL_SPEEDUP = 1.6  # --workers 2 over --workers 1 on synthetic/large.yaml
GOAL_GENERATE_RSS = 4 * GiB  # per worker, 100 million payments
GOAL_SCORE_RSS = 8 * GiB

SINGLE = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from scale import scaled
phase, scenario, factor, out = sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
start = time.perf_counter()
if phase == "generate":
    from finlab.generate import generate
    generate(scaled(scenario, factor), out)
else:
    import finlab
    from finlab.detectors import make_detector
    ds = finlab.load(out, labels=False, verify=False).without_labels()
    make_detector("rules", {}).fit(ds).score(ds)
from scale import peak_rss
print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss": peak_rss()}))
"""


def scaled(scenario: str, factor: float):
    """The scenario with its population multiplied by `factor`."""
    from finlab.config import load_scenario

    sc = load_scenario(scenario)
    pop = sc.population

    def times(n: int) -> int:
        return max(1, round(n * factor))

    merchants = {k: g.model_copy(update={"count": times(g.count)})
                 for k, g in pop.merchants.items()}
    # above factor 1, shorter windows keep the payments of one window task as they were
    window = max(1, round(sc.period.window_days / max(factor, 1.0)))
    return sc.model_copy(update={"population": pop.model_copy(update={
        "persons": max(10, times(pop.persons)), "businesses": times(pop.businesses),
        "merchants": merchants}), "period": sc.period.model_copy(update={"window_days": window})})


def one_process(phase: str, scenario: str, factor: float, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-c", SINGLE, str(Path(__file__).parent), phase,
                           scenario, str(factor), str(out)], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss() -> int:
    """This process's peak resident set size in bytes, since it started its program: VmHWM
    (ru_maxrss would include the parent's memory at fork time)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker_peaks(client) -> list[int]:
    """Each worker process's peak resident set size, in bytes."""
    return sorted(client.run(peak_rss).values())


def on_dask(phase: str, scenario: str, factor: float, out: Path, workers: int) -> dict:
    """One phase on a new LocalCluster of `workers` processes (so the peaks are this phase's)."""
    from finlab.engine import cluster

    with cluster(workers) as client:
        start = time.perf_counter()
        if phase == "generate":
            from finlab.engine.generate import generate_on

            generate_on(client, scaled(scenario, factor), out)
        else:
            from finlab.detectors import make_detector
            from finlab.engine.shards import sharded

            sharded(client, out, det=make_detector("rules", {}).fit(None))
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "worker_peak_rss": worker_peaks(client)}


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB
    cpu = platform.processor() or platform.machine()
    try:
        name = next(line.split(":", 1)[1].strip() for line in
                    Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line)
    except (OSError, StopIteration):
        name = cpu
    return (f"{name}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, load {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "synthetic" / "large.yaml"))
    ap.add_argument("--factor", type=float, default=6.0,
                    help="population multiplier (large.yaml x6 is about 100M payments)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--single-max", type=float, default=30e6,
                    help="skip the one-process runs above this many payments")
    ap.add_argument("--one-worker", action="store_true",
                    help="also generate on a LocalCluster of 1 worker (the 1.6x goal)")
    ap.add_argument("--tmp", default=None, help="directory for the datasets (removed after)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    sys.path.insert(0, str(SRC))
    print(f"machine: {machine()}")
    print(f"scenario {args.scenario} x{args.factor}, LocalCluster of {args.workers} workers, "
          f"{args.repeat} run(s)\n")
    rows = []
    for r in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="finlab-scale-", dir=args.tmp))
        try:
            row = {"run": r + 1}
            d = on_dask("generate", args.scenario, args.factor, work / "dask", args.workers)
            manifest = json.loads((work / "dask" / "manifest.json").read_text())
            n = manifest["row_counts"]["transactions"]
            row.update(payments=n, dask_gen_s=d["seconds"],
                       dask_gen_peak=max(d["worker_peak_rss"]))
            s = on_dask("score", args.scenario, args.factor, work / "dask", args.workers)
            row.update(dask_score_s=s["seconds"], dask_score_peak=max(s["worker_peak_rss"]))
            if args.one_worker:
                w1 = on_dask("generate", args.scenario, args.factor, work / "w1", 1)
                row.update(w1_gen_s=w1["seconds"], w1_gen_peak=max(w1["worker_peak_rss"]))
                shutil.rmtree(work / "w1")
            if n <= args.single_max:
                g = one_process("generate", args.scenario, args.factor, work / "one")
                single = json.loads((work / "one" / "manifest.json").read_text())
                row.update(one_gen_s=g["seconds"], one_gen_peak=g["peak_rss"],
                           identical=single["checksums"] == manifest["checksums"])
                sc = one_process("score", args.scenario, args.factor, work / "one")
                row.update(one_score_s=sc["seconds"], one_score_peak=sc["peak_rss"])
            rows.append(row)
            print(json.dumps(row))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    report(rows, args.workers)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "runs": rows}, indent=2))


def report(rows: list[dict], workers: int) -> None:
    def med(key):
        values = [r[key] for r in rows if key in r]
        return statistics.median(values) if values else None

    n = rows[0]["payments"]
    print(f"\nmedian of {len(rows)} run(s), {n:,} payments")
    for phase in ("gen", "score"):
        dask_s, one_s = med(f"dask_{phase}_s"), med(f"one_{phase}_s")
        peak = med(f"dask_{phase}_peak")
        line = (f"  {phase:5s} dask x{workers}: {dask_s:7.1f} s, {n / dask_s:12,.0f} payments/s, "
                f"peak {peak / GiB:5.2f} GiB per worker")
        if one_s is not None:
            line += (f" | one process: {one_s:7.1f} s, peak {med(f'one_{phase}_peak') / GiB:5.2f}"
                     f" GiB | ratio {one_s / dask_s:4.2f}x")
        print(line)
    if med("w1_gen_s") is not None:
        print(f"  gen   dask x1: {med('w1_gen_s'):7.1f} s: x{workers} is "
              f"{med('w1_gen_s') / med('dask_gen_s'):4.2f}x faster")
    if any("identical" in r for r in rows):
        print(f"  bytes identical to one process: {all(r.get('identical') for r in rows)}")
    print(f"goals (information): --workers 2 at least {GOAL_SPEEDUP}x one worker on large.yaml; "
          f"100M payments under {GOAL_GENERATE_RSS / GiB:.0f} GiB per worker to generate and "
          f"{GOAL_SCORE_RSS / GiB:.0f} GiB to score")


if __name__ == "__main__":
    main()
