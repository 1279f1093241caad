"""Sweeps on Dask: the seeds of an experiment and the settings of a cooperation sweep are
independent tasks. Large shared arguments (a fitted simulation, an experiment) are sent to the
workers once; results come back in the order of the tasks, so the files do not depend on timing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

#: argument types sent inline with each task; anything else is scattered once and shared
_INLINE = (str, int, float, bool, bytes, Path, type(None))


def dask_map(client) -> Callable[[Callable, list[tuple]], list]:
    """A `map_tasks(fn, [args, ...])` that runs fn(*args) as one task per tuple on `client`."""
    def map_tasks(fn: Callable, tasks: list[tuple]) -> list:
        shared: dict[int, object] = {}
        for args in tasks:
            for a in args:
                if not isinstance(a, _INLINE) and id(a) not in shared:
                    shared[id(a)] = client.scatter(a, broadcast=True, hash=False)
        futures = [client.submit(fn, *[shared.get(id(a), a) for a in args], pure=False,
                                 retries=1) for args in tasks]
        return client.gather(futures)
    return map_tasks
