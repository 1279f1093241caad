"""Generation on Dask: the plan is made once on the client and sent to every worker; each window
is a task that writes its own parts; parts land in the writer's unpublished directory, which
becomes the dataset only once every task has finished (a task that fails for good leaves none)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from finlab.generate import Plan, WindowPart, WindowRunner, write_window
from finlab.remote import PartSink
from finlab.world.streams import Window

#: times a window task is tried again after an error (a lost worker is retried by Dask anyway)
RETRIES = 2


def dask_windows(client) -> WindowRunner:
    """A window runner that materializes windows as tasks on `client`'s workers; results are
    returned in window order, so the manifest does not depend on timing."""
    def run(p: Plan, sink: PartSink, ws: list[Window]) -> Iterator[WindowPart | None]:
        token = secrets.token_hex(6)  # fresh keys: a shared client never reuses old windows
        plan = client.scatter(p, broadcast=True, hash=False)
        futures = client.map(write_window, [plan] * len(ws), [sink] * len(ws), ws,
                             key=[f"finlab-window-{token}-{w.index}" for w in ws], retries=RETRIES)
        try:
            yield None
            for f in futures:
                yield f.result()
        finally:
            with contextlib.suppress(RuntimeError):  # the client may already be closed
                client.cancel(futures + [plan])
    return run


def generate_on(client, scenario, out: Path | str, *, force: bool = False,
                progress=None) -> Path | str:
    """finlab.generate.generate with the windows as Dask tasks on `client`."""
    from finlab.generate import _quiet, generate

    return generate(scenario, out, force=force, progress=progress or _quiet,
                    run_windows=dask_windows(client))
