"""The classroom notebooks under experiments/notebooks run top to bottom without error and write
what they promise into the working directory named by FINLAB_NOTEBOOK_DIR."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "experiments" / "notebooks"

#: notebook -> files (relative to the working directory) it must have written
EXPECTED = {
    "01_generate_and_explore.ipynb": ["classroom/manifest.json", "ocse_vs_family.png"],
    "02_write_and_tune_a_rule.ipynb": ["classroom/manifest.json", "my_ocse.yaml", "hit_1.html",
                                       "hit_2.html", "hit_3.html"],
    "03_compare_detectors.ipynb": ["classroom/manifest.json", "experiment.yaml",
                                   "results/metrics.json", "results/report.html", "mlflow.db"],
    "04_cooperation.ipynb": ["cooperation/manifest.json", "cooperation_levels.png",
                             "cooperation.yaml", "cooperation_results/cooperation.json",
                             "cooperation_results/report.html", "mlflow.db"],
}


def test_every_notebook_is_tested():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_is_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name}: no code cells"
    assert all(not c.outputs and c.execution_count is None for c in code), \
        f"{name}: clear the outputs before committing"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name, tmp_path, monkeypatch):
    work = tmp_path / "work"
    # the kernel inherits this process's environment: point it at tmp_path, keep it offline
    monkeypatch.setenv("FINLAB_NOTEBOOK_DIR", str(work))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(cwd=str(NOTEBOOKS), env=dict(os.environ))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors
    for rel in EXPECTED[name]:
        assert (work / rel).is_file(), f"{name} did not write {rel}"
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, \
        f"{name} wrote into {NOTEBOOKS}; it must write only under FINLAB_NOTEBOOK_DIR"
    if name.startswith("03"):
        metrics = json.loads((work / "results" / "metrics.json").read_text())
        assert set(metrics["detectors"]) == {"rules", "gradient_boosting", "logistic_regression",
                                             "isolation_forest"}
