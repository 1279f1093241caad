"""Shared fixtures: shipped scenario paths, a small generated world, and ../shared (required)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "synthetic"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the clone; tests that need it fail loudly when it is missing."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: clone finlab with ../shared beside it", pytrace=False)
    return SHARED


@pytest.fixture(scope="session")
def classroom_scenario():
    from finlab.config import load_scenario

    return load_scenario(SYNTHETIC / "classroom.yaml")


@pytest.fixture(scope="session")
def tiny_scenario(classroom_scenario):
    """The classroom world cut to 400 persons and 30 days, for fast tests."""
    sc = classroom_scenario
    return sc.model_copy(update={
        "population": sc.population.model_copy(update={"persons": 400, "businesses": 30}),
        "period": sc.period.model_copy(update={"days": 30, "window_days": 10}),
    })


@pytest.fixture(scope="session")
def tiny_dataset_dir(tiny_scenario, tmp_path_factory) -> Path:
    from finlab.generate import generate

    out = tmp_path_factory.mktemp("tiny") / "world"
    generate(tiny_scenario, out)
    return out


@pytest.fixture(scope="session")
def tiny_dataset(tiny_dataset_dir):
    import finlab

    return finlab.load(tiny_dataset_dir)
