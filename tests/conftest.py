"""Shared fixtures: shipped scenario paths, a small generated world, and the peer samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "synthetic"


PEER_SAMPLES = Path(os.environ.get("FINLAB_PEER_SAMPLES") or ROOT.parent / "shared" / "peers")
PEERS_MISSING = (f"peer samples not found at {PEER_SAMPLES}; set FINLAB_PEER_SAMPLES to the "
                 "folder of AMLSim, PaySim and SAML-D samples")


def pytest_collection_modifyitems(config, items):
    """Without the peer samples, the tests that read them skip with one reason (shown once per
    file by -ra) -- unless FINLAB_REQUIRE_PEER_SAMPLES=1 (set by .ci/run), where they fail."""
    if PEER_SAMPLES.is_dir() or os.environ.get("FINLAB_REQUIRE_PEER_SAMPLES") == "1":
        return
    for item in items:
        if "peer_samples" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=PEERS_MISSING))


@pytest.fixture(scope="session")
def peer_samples() -> Path:
    """Samples of other AML datasets (AMLSim, PaySim, SAML-D), which finlab does not ship: the
    folder FINLAB_PEER_SAMPLES names, by default ../shared/peers beside the clone."""
    if not PEER_SAMPLES.is_dir():
        pytest.fail(f"{PEERS_MISSING} (FINLAB_REQUIRE_PEER_SAMPLES=1)", pytrace=False)
    return PEER_SAMPLES


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


@pytest.fixture
def world_guard():
    """Snapshot a world before a plugin plans on it; the returned check asserts afterwards that
    no array and no merchant list of the world changed (plans must not mutate the world)."""
    import dataclasses

    import numpy as np

    def snapshot(world):
        arrays = {f.name: np.copy(getattr(world, f.name)) for f in dataclasses.fields(world)
                  if isinstance(getattr(world, f.name), np.ndarray)}
        merchants = {k: v.copy() for k, v in world.merchants.items()}

        def check():
            for key, value in arrays.items():
                np.testing.assert_array_equal(getattr(world, key), value, err_msg=key)
            assert world.merchants.keys() == merchants.keys()
            for key, value in merchants.items():
                np.testing.assert_array_equal(world.merchants[key], value)
        return check
    return snapshot
