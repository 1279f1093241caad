"""Opening a Dask client: a LocalCluster of N workers on this machine, or an existing cluster by
address. An unreachable scheduler is one line and exit 3, before anything is written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from finlab.errors import FinlabError

#: seconds to wait for a scheduler before giving up
CONNECT_TIMEOUT = 10


class ClusterError(FinlabError):
    """The Dask scheduler cannot be reached (exit 3, like an unreachable tracking server)."""

    exit_code = 3


def _distributed():
    try:
        import distributed
    except ImportError:
        raise FinlabError("--workers and --scheduler need Dask: pip install 'finlab[dask]'") \
            from None
    return distributed


def check_engine(workers: int | None, scheduler: str | None) -> None:
    """Refuse contradictory options before any work."""
    if workers is not None and scheduler is not None:
        raise FinlabError("give --workers N (a cluster on this machine) or --scheduler ADDRESS "
                          "(an existing cluster), not both")
    if workers is not None and workers < 1:
        raise FinlabError(f"--workers must be at least 1, got {workers}")


@contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None, *,
            processes: bool = True, timeout: float = CONNECT_TIMEOUT) -> Iterator:
    """A distributed.Client: on a new LocalCluster of `workers` single-threaded workers, or on
    the scheduler at `scheduler`. Closed (and the LocalCluster stopped) on exit."""
    check_engine(workers, scheduler)
    distributed = _distributed()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as e:
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ClusterError(f"Dask scheduler {scheduler} is unreachable ({why})") from None
        try:
            yield client
        finally:
            client.close()
        return
    with distributed.LocalCluster(n_workers=workers or 1, threads_per_worker=1,
                                  processes=processes, dashboard_address=None,
                                  silence_logs=40) as lc, distributed.Client(lc) as client:
        yield client


@contextmanager
def maybe_cluster(workers: int | None, scheduler: str | None) -> Iterator:
    """A `map_tasks` on a Dask cluster when --workers or --scheduler is given, else None (the
    command then runs its tasks in this process)."""
    if workers is None and scheduler is None:
        yield None
        return
    from finlab.engine.sweeps import dask_map

    with cluster(workers, scheduler) as client:
        yield dask_map(client)
