#!/usr/bin/env python
"""Benchmark `finlab export amlworld` and `finlab import amlworld` on a large world.

Builds a finlab world of about --rows transactions (synthetic/large.yaml, population scaled),
exports it as AMLworld files (the 11-column transactions CSV, patterns, accounts), imports them
back, and checks that the row and laundering counts survive. Each step runs in a fresh Python
subprocess that reports its own wall time and peak resident set size (ru_maxrss), so the memory
figure belongs to that step alone.

    python benchmarks/interop.py                  # about 30 million rows (several minutes)
    python benchmarks/interop.py --rows 2000000   # a quick run
    python benchmarks/interop.py --work /big/disk --keep

The working directory needs about 150 bytes of disk per row (world, CSV, imported dataset).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MARKER = "@@finlab-interop-bench@@ "
LARGE_ROWS = 16_600_000  # transactions of synthetic/large.yaml as shipped (about)
MiB = 1024**2

CHILD = r"""
import json, resource, sys, time
step, args = sys.argv[1], json.loads(sys.argv[2])
t0 = time.perf_counter()
if step == "world":
    from finlab.config import load_scenario
    from finlab.generate import generate
    sc = load_scenario(args["scenario"])
    f = args["scale"]
    pop = sc.population
    merchants = {k: v.model_copy(update={"count": max(1, round(v.count * f))})
                 for k, v in pop.merchants.items()}
    pop = pop.model_copy(update={"persons": round(pop.persons * f),
                                 "businesses": max(1, round(pop.businesses * f)),
                                 "merchants": merchants})
    generate(sc.model_copy(update={"population": pop}), args["out"], force=True)
    manifest = json.loads(open(args["out"] + "/manifest.json").read())
    rows = manifest["row_counts"]["transactions"]
    result = {"rows": rows}
elif step == "export":
    from finlab.interop import export_dataset
    result = export_dataset("amlworld", args["dataset"], args["out"], force=True)
else:
    from finlab.interop import import_dataset
    result = import_dataset("amlworld", [args["files"]], args["out"], force=True)
result["seconds"] = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
result["maxrss_kib"] = ru.ru_maxrss
result["cpu_s"] = ru.ru_utime + ru.ru_stime
print(__MARKER__ + json.dumps(result), flush=True)
""".replace("__MARKER__", repr(MARKER))


def _generate_benchmark():
    """benchmarks/generate.py as a module: its description of the machine and of its load."""
    spec = importlib.util.spec_from_file_location("finlab_bench_generate",
                                                  ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generate_benchmark()


def run(step: str, args: dict) -> dict:
    """Run one step in a fresh Python, with its wall time, peak RSS and the machine's other load."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    start, busy0 = time.perf_counter(), GEN._cpu_busy_s()
    proc = subprocess.run([sys.executable, "-c", CHILD, step, json.dumps(args)], check=False,
                          capture_output=True, text=True, env=env, cwd=ROOT)
    busy1 = GEN._cpu_busy_s()
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise SystemExit(f"{step} failed (exit code {proc.returncode}):\n{tail}")
    result = json.loads(lines[-1][len(MARKER):])
    result["process_s"] = time.perf_counter() - start
    result["peak_rss_bytes"] = result.pop("maxrss_kib") * 1024
    # CPU cores used by other processes meanwhile: the figures mean little when this is high
    result["other_cpu_cores"] = (
        None if busy0 is None or busy1 is None
        else max(0.0, (busy1 - busy0 - result["cpu_s"]) / result["process_s"]))
    return result


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    """Build, export, import and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=30_000_000, help="transactions, about")
    ap.add_argument("--work", type=Path, default=None, help="directory for the files")
    ap.add_argument("--keep", action="store_true", help="keep the files afterwards")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = ap.parse_args(argv)

    m = GEN.machine()
    ram = f"{m['ram_bytes'] / 1024**3:.1f} GiB" if m["ram_bytes"] else "unknown"
    print("finlab interop benchmark (AMLworld export and import)")
    print(f"  cpu     {m['cpu_model']}: {m['logical_cpus']} logical, "
          f"{m['usable_cpus']} usable")
    print(f"  ram     {ram}")
    print(f"  python  {m['python']}; numpy {m['numpy']}, pyarrow {m['pyarrow']}, "
          f"pandas {m['pandas']}; finlab {m['finlab']}")
    work = Path(tempfile.mkdtemp(prefix="finlab-interop-bench-", dir=a.work))
    try:
        world, files, back = work / "world", work / "amlworld", work / "back"
        print(f"  work    {work}\n")
        steps = {}
        steps["world"] = w = run("world", {
            "scenario": str(ROOT / "synthetic" / "large.yaml"), "scale": a.rows / LARGE_ROWS,
            "out": str(world)})
        print(f"world   {w['rows']:>12,} rows in {w['seconds']:7.1f} s "
              f"(finlab generate, peak RSS {w['peak_rss_bytes'] / MiB:,.0f} MiB)")
        steps["export"] = e = run("export", {"dataset": str(world), "out": str(files)})
        csv_bytes = size(files)
        steps["import"] = i = run("import", {"files": str(files), "out": str(back)})
        for name, r in (("export", e), ("import", i)):
            other = "?" if r["other_cpu_cores"] is None else f"{r['other_cpu_cores']:.2f}"
            print(f"{name:<7} {r['rows']:>12,} rows in {r['seconds']:7.1f} s: "
                  f"{r['rows'] / r['seconds']:>10,.0f} rows/s, "
                  f"peak RSS {r['peak_rss_bytes'] / MiB:,.0f} MiB, "
                  f"CPU {r['cpu_s'] / r['seconds']:.2f} cores (other processes {other})")
        print(f"\nAMLworld files: {csv_bytes / MiB:,.0f} MiB "
              f"({csv_bytes / i['seconds'] / MiB:,.1f} MiB/s read by the import)")
        manifest = json.loads((world / "manifest.json").read_text())
        ok = (i["rows"] == w["rows"] == manifest["row_counts"]["transactions"])
        print(f"rows preserved: {ok}; laundering rows imported: {i['laundering_rows']:,}; "
              f"cases: {i['cases']:,}")
        if a.json:
            a.json.write_text(json.dumps({"machine": m, "steps": steps}, indent=2) + "\n")
    finally:
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
