#!/usr/bin/env python
"""Benchmark `finlab generate` end to end: speed, peak memory and output size per shipped scenario.

Every run is a fresh Python subprocess that loads the scenario and generates the whole dataset
(world, every window of transactions, Parquet writing, checksums, manifest, atomic rename) into a
temporary directory, which is removed afterwards. The subprocess reports its own timings and its
peak resident set size (``ru_maxrss``), so the memory figure belongs to that one run only.

    python benchmarks/generate.py                          # all three scenarios, default repeats
    python benchmarks/generate.py --scenario classroom --repeat 5 --json out.json
    python benchmarks/generate.py --wait-idle 300     # on a shared machine: start runs when idle

Each run also records how much CPU other processes used meanwhile ("other load"); figures taken
while that is high understate the speed, and the script says so.

Timings:
  gen s      loading the scenario YAML plus ``generate()`` until the dataset directory is in place
             (Parquet writing included); interpreter start-up and imports are excluded.
  process s  the whole subprocess, including interpreter start-up and importing finlab, numpy,
             pandas and pyarrow (about a second or two), for comparison with ``finlab generate``.
  txn/s      transactions / gen s (the end-to-end throughput the goals refer to).

The goals (from the issue) are printed as information only; this script never fails on them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SYNTHETIC = ROOT / "synthetic"
SCENARIOS = ("classroom", "default", "large")
DEFAULT_REPEAT = 3
# large.yaml writes about 16.8 million transactions in 11-35 s per run at the time of writing, so
# three runs cost a minute or two: it keeps the default of 3 (a median of 3 is worth having on a
# noisy shared machine). Lower LARGE_DEFAULT_REPEAT (or pass --repeat) if a run gets much slower.
LARGE_DEFAULT_REPEAT = 3

GOAL_TXN_PER_S = 1_000_000  # end to end on 2 cores, synthetic/large.yaml
GOAL_CORES = 2
GOAL_RSS_BYTES = 4 * 1024**3  # peak memory for 10 million transactions
GOAL_RSS_TXNS = 10_000_000

CONTENDED_CORES = 0.25  # warn when other processes used more CPU than this during a run
MARKER = "@@finlab-bench@@ "
MiB = 1024**2

# Runs in the subprocess: argv = scenario path, output directory, threads ("" = library default),
# cpus ("" = no pinning). Prints one JSON line after MARKER.
CHILD = r"""
import os, sys
if sys.argv[4]:
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: int(sys.argv[4])]))
import json, resource, time
from pathlib import Path
t_import = time.perf_counter()
from finlab.config import load_scenario
from finlab.generate import generate
import finlab, numpy, pandas, pyarrow
t0, c0 = time.perf_counter(), time.process_time()
sc = load_scenario(sys.argv[1])
kwargs = {"threads": int(sys.argv[3])} if sys.argv[3] else {}
out = generate(sc, sys.argv[2], force=True, **kwargs)
t1, c1 = time.perf_counter(), time.process_time()
manifest = json.loads((Path(out) / "manifest.json").read_text())
ru = resource.getrusage(resource.RUSAGE_SELF)
print(__MARKER__ + json.dumps({
    "process_cpu_s": ru.ru_utime + ru.ru_stime,
    "transactions": manifest["row_counts"].get("transactions", 0),
    "row_counts": manifest["row_counts"],
    "import_s": t0 - t_import,
    "gen_s": t1 - t0,
    "gen_cpu_s": c1 - c0,
    "maxrss_kib": ru.ru_maxrss,
    "cpus": len(os.sched_getaffinity(0)),
    "versions": {"finlab": finlab.__version__, "numpy": numpy.__version__,
                 "pandas": pandas.__version__, "pyarrow": pyarrow.__version__},
}), flush=True)
""".replace("__MARKER__", repr(MARKER))


# ---------------------------------------------------------------------------------------------
# the machine


def _cpuinfo() -> tuple[str, int | None]:
    """CPU model name and physical core count from /proc/cpuinfo (Linux)."""
    model, cores = platform.processor() or platform.machine(), None
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, cores
    physical: set[tuple[str, str]] = set()
    phys_id = "0"
    for line in text.splitlines():
        key, _, value = (s.strip() for s in line.partition(":"))
        if key == "model name" and model in (platform.processor(), platform.machine()):
            model = value
        elif key == "physical id":
            phys_id = value
        elif key == "core id":
            physical.add((phys_id, value))
    return model, (len(physical) or None)


def _mem_total() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _finlab_version() -> str:
    """The version of the working tree's finlab (src/finlab/__init__.py), not an installed copy."""
    try:
        for line in (SRC / "finlab" / "__init__.py").read_text().splitlines():
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    except OSError:
        pass
    return _version("finlab")


def _git_head() -> str | None:
    try:  # read-only
        r = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                           check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None


def machine() -> dict:
    model, physical = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    mem = _mem_total()
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "physical_cores": physical,
        "ram_bytes": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": _version("numpy"),
        "pyarrow": _version("pyarrow"),
        "pandas": _version("pandas"),
        "finlab": _finlab_version(),
        "git_head": _git_head(),
    }


def print_machine(m: dict) -> None:
    ram = f"{m['ram_bytes'] / 1024**3:.1f} GiB" if m["ram_bytes"] else "unknown"
    print("finlab generation benchmark")
    print(f"  date      {m['date']}")
    print(f"  cpu       {m['cpu_model']}")
    print(f"  cores     {m['logical_cpus']} logical, {m['physical_cores'] or '?'} physical, "
          f"{m['usable_cpus']} usable by this process")
    print(f"  ram       {ram}")
    print(f"  os        {m['os']}")
    print(f"  python    {m['python']} ({sys.executable})")
    print(f"  numpy {m['numpy']}, pyarrow {m['pyarrow']}, pandas {m['pandas']}")
    head = f" (git HEAD {m['git_head']}; the working tree may differ)" if m["git_head"] else ""
    print(f"  finlab    {m['finlab']} from {SRC}{head}")
    print()


# ---------------------------------------------------------------------------------------------
# runs


def resolve(name: str) -> Path:
    """A shipped scenario name (classroom, default, large) or a path to a YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p.resolve()
    shipped = SYNTHETIC / f"{p.stem if p.suffix else name}.yaml"
    if shipped.is_file():
        return shipped
    raise SystemExit(
        f"unknown scenario {name!r}: give one of {', '.join(SCENARIOS)} or a YAML path")


def dir_size(path: Path) -> tuple[int, int]:
    """(apparent bytes, bytes allocated on disk) of every file under `path`."""
    apparent = disk = 0
    for p in path.rglob("*"):
        if p.is_file():
            st = p.stat()
            apparent += st.st_size
            disk += getattr(st, "st_blocks", 0) * 512 or st.st_size
    return apparent, disk


def _cpu_busy_s() -> float | None:
    """CPU seconds used by the whole machine (all processes and CPUs) since boot: /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal (guest time is already in user/nice)
    ticks = [int(x) for x in fields[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def wait_idle(limit_s: float, sample_s: float = 3.0) -> float | None:
    """Wait (at most limit_s) until the machine's CPU use over sample_s is below CONTENDED_CORES.

    Returns the load last seen, in cores (None where /proc/stat is missing)."""
    deadline = time.monotonic() + limit_s
    while True:
        b0, t0 = _cpu_busy_s(), time.perf_counter()
        time.sleep(sample_s)
        b1 = _cpu_busy_s()
        if b0 is None or b1 is None:
            return None
        load = (b1 - b0) / (time.perf_counter() - t0)
        if load < CONTENDED_CORES or time.monotonic() >= deadline:
            return load


def run_once(scenario: Path, tmp_root: str | None, threads: int | None, cpus: int | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="finlab-bench-", dir=tmp_root) as tmp:
        out = Path(tmp) / "dataset"
        cmd = [sys.executable, "-c", CHILD, str(scenario), str(out),
               "" if threads is None else str(threads), "" if cpus is None else str(cpus)]
        busy0, start = _cpu_busy_s(), time.perf_counter()
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=ROOT)
        process_s = time.perf_counter() - start
        busy1 = _cpu_busy_s()
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
        if proc.returncode != 0 or not lines:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"exit code {proc.returncode}\n{tail}")
        result = json.loads(lines[-1][len(MARKER):])
        result["process_s"] = process_s
        # CPU used by everything else on the machine during the run, in cores: a benchmark shares
        # the machine with whatever else runs, and its figures mean little when this is high
        result["other_cpu_cores"] = (
            None if busy0 is None or busy1 is None
            else max(0.0, (busy1 - busy0 - result["process_cpu_s"]) / process_s))
        result["output_bytes"], result["output_disk_bytes"] = dir_size(out)
        result["peak_rss_bytes"] = result.pop("maxrss_kib") * 1024  # Linux: KiB
    return result


def summarise(name: str, path: Path, runs: list[dict]) -> dict:
    gen = [r["gen_s"] for r in runs]
    txns = runs[0]["transactions"]
    med = statistics.median(gen)
    return {
        "scenario": name,
        "path": str(path),
        "runs": len(runs),
        "transactions": txns,
        "transactions_identical": all(r["transactions"] == txns for r in runs),
        "gen_s_median": med,
        "gen_s_min": min(gen),
        "gen_s_max": max(gen),
        "process_s_median": statistics.median(r["process_s"] for r in runs),
        "txn_per_s_median": statistics.median(r["transactions"] / r["gen_s"] for r in runs),
        "txn_per_s_process_median": statistics.median(r["transactions"] / r["process_s"]
                                                      for r in runs),
        "cpu_utilisation_median": statistics.median(r["gen_cpu_s"] / r["gen_s"] for r in runs),
        "peak_rss_bytes_max": max(r["peak_rss_bytes"] for r in runs),
        "output_bytes": runs[-1]["output_bytes"],
        "output_disk_bytes": runs[-1]["output_disk_bytes"],
        "cpus": runs[0]["cpus"],
        "other_cpu_cores_median": (
            None if any(r["other_cpu_cores"] is None for r in runs)
            else statistics.median(r["other_cpu_cores"] for r in runs)),
        "per_run": runs,
    }


def print_table(rows: list[dict]) -> None:
    header = ["scenario", "transactions", "runs", "gen s median", "(min-max)", "process s",
              "txn/s median", "cores busy", "other load", "peak RSS MiB", "output MiB"]
    body = [[
        r["scenario"],
        f"{r['transactions']:,}" + ("" if r["transactions_identical"] else "*"),
        str(r["runs"]),
        f"{r['gen_s_median']:.2f}",
        f"({r['gen_s_min']:.2f}-{r['gen_s_max']:.2f})",
        f"{r['process_s_median']:.2f}",
        f"{r['txn_per_s_median']:,.0f}",
        f"{r['cpu_utilisation_median']:.2f}",
        "?" if r["other_cpu_cores_median"] is None else f"{r['other_cpu_cores_median']:.2f}",
        f"{r['peak_rss_bytes_max'] / MiB:,.0f}",
        f"{r['output_disk_bytes'] / MiB:,.1f}",
    ] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for b in body:
        print(fmt(b))
    print()
    print("gen s: load_scenario + generate() until the dataset is in place (Parquet included), "
          "without interpreter start-up and imports;")
    print("process s: the whole subprocess; txn/s = transactions / gen s; cores busy = CPU seconds "
          "/ gen s; peak RSS: max ru_maxrss over runs;")
    print("other load: CPU cores used by other processes on the machine during the run (median; "
          "/proc/stat minus the run's own CPU time);")
    print("output: bytes allocated on disk by the dataset directory.")
    busy = [r["scenario"] for r in rows
            if (r["other_cpu_cores_median"] or 0) > CONTENDED_CORES]
    if busy:
        print(f"WARNING: other processes used more than {CONTENDED_CORES} cores during "
              f"{', '.join(busy)}: those timings are pessimistic; rerun on an idle machine")
    if any(not r["transactions_identical"] for r in rows):
        print("* the transaction count differed between runs (output should be deterministic)")
    print()


def goals(rows: list[dict], m: dict) -> list[dict]:
    out = []
    large = [r for r in rows if Path(r["path"]).resolve() == (SYNTHETIC / "large.yaml").resolve()]
    goal = f"at least {GOAL_TXN_PER_S:,} transactions/s end to end on {GOAL_CORES} cores " \
           f"for synthetic/large.yaml"
    if large:
        r = large[0]
        met = r["txn_per_s_median"] >= GOAL_TXN_PER_S
        note = f"median {r['txn_per_s_median']:,.0f} transactions/s on {r['cpus']} usable CPUs " \
               f"({r['txn_per_s_median'] / GOAL_TXN_PER_S:.0%} of the goal)"
        if r["cpus"] != GOAL_CORES:
            note += f"; NOTE: measured on {r['cpus']} CPUs, not {GOAL_CORES} (see --cpus)"
        if (r["other_cpu_cores_median"] or 0) > CONTENDED_CORES:
            note += (f"; NOTE: other processes used {r['other_cpu_cores_median']:.2f} cores "
                     f"meanwhile, so this understates the speed")
        out.append({"goal": goal, "met": met, "detail": note})
    else:
        out.append({"goal": goal, "met": None, "detail": "not measured (large not selected)"})

    goal = f"under {GOAL_RSS_BYTES / 1024**3:.0f} GiB peak memory for " \
           f"{GOAL_RSS_TXNS / 1e6:.0f} million transactions"
    big = [r for r in rows if r["transactions"] >= GOAL_RSS_TXNS]
    if big:
        peak = max(r["peak_rss_bytes_max"] for r in big)
        names = ", ".join(f"{r['scenario']} ({r['transactions']:,})" for r in big)
        out.append({"goal": goal, "met": peak < GOAL_RSS_BYTES,
                    "detail": f"peak {peak / MiB:,.0f} MiB ({peak / GOAL_RSS_BYTES:.0%} of the "
                              f"limit) over {names}"})
    else:
        best = max(rows, key=lambda r: r["transactions"], default=None)
        detail = "not measured: no selected scenario reached 10 million transactions"
        if best:
            detail += f" (largest: {best['scenario']}, {best['transactions']:,}, " \
                      f"peak {best['peak_rss_bytes_max'] / MiB:,.0f} MiB)"
        out.append({"goal": goal, "met": None, "detail": detail})
    return out


def print_goals(results: list[dict]) -> None:
    print("goals (information only)")
    for g in results:
        verdict = {True: "MET    ", False: "NOT MET", None: "n/a    "}[g["met"]]
        print(f"  [{verdict}] {g['goal']}: {g['detail']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", action="append", metavar="NAME",
                    help="classroom, default, large or a YAML path; repeatable "
                         "(default: all three)")
    ap.add_argument("--repeat", type=int, default=None,
                    help=f"runs per scenario (default {DEFAULT_REPEAT}; "
                         f"large: {LARGE_DEFAULT_REPEAT})")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads= passed to generate() (default: the library's default)")
    ap.add_argument("--cpus", type=int, default=None,
                    help="pin each run to this many CPUs (sched_setaffinity); default: no pinning")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each run, wait up to SECONDS for the machine to be idle "
                         f"(other CPU use below {CONTENDED_CORES} cores); default 0: start at once")
    ap.add_argument("--tmpdir", default=None,
                    help="where the temporary output directories go (default: the system's)")
    args = ap.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        ap.error("--repeat must be at least 1")

    names = args.scenario or list(SCENARIOS)
    selected: list[tuple[str, Path]] = []
    for n in names:
        path = resolve(n)
        if path not in (q for _, q in selected):  # each scenario once, in the order given
            selected.append((n, path))
    m = machine()
    print_machine(m)

    rows, failures = [], []
    for name, path in selected:
        label = path.stem if path.parent == SYNTHETIC else name
        repeat = args.repeat or (LARGE_DEFAULT_REPEAT if label == "large" else DEFAULT_REPEAT)
        runs = []
        for i in range(repeat):
            if args.wait_idle > 0:
                load = wait_idle(args.wait_idle)
                if load is not None and load >= CONTENDED_CORES:
                    print(f"  (machine still busy after {args.wait_idle:.0f} s: {load:.2f} cores "
                          "in use; running anyway)", file=sys.stderr)
            print(f"  {label}: run {i + 1}/{repeat} ...", end="", file=sys.stderr, flush=True)
            try:
                r = run_once(path, args.tmpdir, args.threads, args.cpus)
            except RuntimeError as e:
                print(f" FAILED: {e}", file=sys.stderr)
                failures.append({"scenario": label, "run": i + 1, "error": str(e)})
                continue
            runs.append(r)
            other = "" if r["other_cpu_cores"] is None else \
                f", other load {r['other_cpu_cores']:.2f} cores"
            print(f" {r['transactions']:,} transactions in {r['gen_s']:.2f} s "
                  f"({r['transactions'] / r['gen_s']:,.0f}/s), peak "
                  f"{r['peak_rss_bytes'] / MiB:,.0f} MiB{other}", file=sys.stderr, flush=True)
        if runs:
            rows.append(summarise(label, path, runs))
    print(file=sys.stderr)

    if rows:
        print_table(rows)
    gs = goals(rows, m)
    print_goals(gs)
    if failures:
        print(f"\n{len(failures)} run(s) failed: "
              + ", ".join(f"{f['scenario']} #{f['run']}" for f in failures))

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(
            {"machine": m, "results": rows, "goals": gs, "failures": failures}, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
