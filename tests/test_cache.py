"""The detectors' shared cache: results are reused while their dataset lives, and the oldest go
first when the cache would pass its memory budget."""

from __future__ import annotations

import numpy as np

from finlab.detectors import base


def test_cache_reuses_results_and_keeps_within_its_budget(tiny_dataset, monkeypatch):
    monkeypatch.setattr(base, "_CACHE", {})
    monkeypatch.setattr(base, "_budget", [3 * 8_000_000 + 1])  # room for three 8 MB arrays
    calls = []

    def compute(tag):
        calls.append(tag)
        return np.zeros(1_000_000)  # 8 MB

    first = base.cached(tiny_dataset, ("a",), lambda: compute("a"))
    assert base.cached(tiny_dataset, ("a",), lambda: compute("a")) is first
    for tag in "bcd":
        base.cached(tiny_dataset, (tag,), lambda tag=tag: compute(tag))
    assert calls == ["a", "b", "c", "d"]
    assert sum(entry[2] for entry in base._CACHE.values()) <= 3 * 8_000_000
    assert len(base._CACHE) == 3
    base.cached(tiny_dataset, ("a",), lambda: compute("a"))  # "a" was the oldest: computed again
    assert calls[-1] == "a" and len(calls) == 5
    base.cached(tiny_dataset, ("d",), lambda: compute("d"))  # "d" is still there
    assert len(calls) == 5


def test_nbytes_counts_frames_arrays_and_objects_holding_them():
    import pandas as pd

    class Holder:
        def __init__(self):
            self.values = np.zeros(100)
            self.name = "x"

    assert base.nbytes(np.zeros(10)) == 80
    assert base.nbytes((np.zeros(10), np.zeros(5))) == 120
    assert base.nbytes(Holder()) == 800
    assert base.nbytes(pd.DataFrame({"a": np.zeros(10, np.float32)})) >= 40
