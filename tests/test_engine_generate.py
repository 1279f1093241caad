"""Generation on Dask: the same bytes for the one-process default and 1 or 2 workers, a URL
filesystem as --out, a worker killed mid-run, and an unreachable scheduler."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import finlab
from finlab.engine import ClusterError, cluster
from finlab.engine.generate import dask_windows, generate_on
from finlab.errors import InputError
from finlab.generate import generate

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def threads_client():
    """Two in-process workers shared by the tests that need no real process."""
    with cluster(2, processes=False) as client:
        yield client


@pytest.fixture(scope="module")
def windows_scenario(tiny_scenario):
    """The tiny world cut into 15 windows of 2 days: enough tasks to lose some."""
    return tiny_scenario.model_copy(update={
        "period": tiny_scenario.period.model_copy(update={"window_days": 2})})


@pytest.fixture(scope="module")
def default_dir(classroom_scenario, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "world"
    generate(classroom_scenario, out)
    return out


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_default_run_writes_one_part_per_window_and_load_reads_them(default_dir):
    parts = sorted((default_dir / "transactions").glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(6)]
    manifest = finlab.load(default_dir).manifest
    assert set(manifest["checksums"]) >= {f"transactions/{p.name}" for p in parts}
    ds = finlab.load(default_dir)
    assert len(ds.transactions) == manifest["row_counts"]["transactions"]
    assert ds.transactions["ts"].is_monotonic_increasing
    assert ds.validate() == []


@pytest.mark.parametrize("workers", [1, 2])
def test_dask_writes_the_same_bytes_as_one_process(classroom_scenario, default_dir, tmp_path,
                                                   threads_client, workers):
    if workers == 1:
        with cluster(1, processes=False) as client:
            generate_on(client, classroom_scenario, tmp_path / "w")
    else:
        generate_on(threads_client, classroom_scenario, tmp_path / "w")
    assert files(tmp_path / "w") == files(default_dir)


def test_a_memory_filesystem_url_as_out(tiny_scenario, tiny_dataset_dir, threads_client):
    import fsspec

    generate_on(threads_client, tiny_scenario, "memory://finlab-test/world")
    fs = fsspec.filesystem("memory")
    written = {p.split("/world/", 1)[1]: fs.cat_file(p) for p in fs.find("/finlab-test/world")}
    local = files(tiny_dataset_dir)
    assert written.keys() == local.keys()
    assert all(written[k] == local[k] for k in local if k.endswith(".parquet"))
    assert not [p for p in fs.ls("/finlab-test") if ".finlab-tmp" in p]  # committed by a move
    with pytest.raises(InputError, match="already exists"):  # refused before any work
        generate(tiny_scenario, "memory://finlab-test/world")
    fs.pipe("/finlab-test/other/file.txt", b"not finlab's")
    with pytest.raises(InputError, match="not a finlab dataset"):
        generate(tiny_scenario, "memory://finlab-test/other", force=True)


def test_the_old_single_file_layout_still_loads(tiny_dataset_dir, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    old = tmp_path / "old"
    shutil.copytree(tiny_dataset_dir, old)
    for table in ("transactions", "labels/transactions"):
        merged = pq.read_table(old / table)
        shutil.rmtree(old / table)
        pq.write_table(merged, old / f"{table}.parquet")
    ds = finlab.load(old, verify=False)
    assert ds.transactions.equals(finlab.load(tiny_dataset_dir).transactions)


def test_a_killed_worker_is_retried_and_the_bytes_do_not_change(windows_scenario, tmp_path):
    generate(windows_scenario, tmp_path / "one")
    with cluster(2) as client:  # real processes: one of them dies
        run = dask_windows(client)

        def killing(p, sink, ws):
            parts = run(p, sink, ws)
            yield next(parts)  # under way
            yield next(parts)  # the first window is written
            victim = min(client.scheduler_info()["workers"])
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            yield from parts

        generate(windows_scenario, tmp_path / "dask", run_windows=killing)
    assert files(tmp_path / "dask") == files(tmp_path / "one")


def test_an_unreachable_scheduler_is_one_line_exit_3_and_nothing_written(tiny_scenario,
                                                                         tmp_path):
    from typer.testing import CliRunner

    from finlab.cli import app

    with pytest.raises(ClusterError), cluster(scheduler="tcp://127.0.0.1:9", timeout=1):
        pass
    scenario = Path(__file__).parents[1] / "synthetic" / "classroom.yaml"
    result = CliRunner().invoke(app, ["generate", str(scenario), "--out", str(tmp_path / "w"),
                                      "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unreachable" in lines[0]
    assert list(tmp_path.iterdir()) == []
