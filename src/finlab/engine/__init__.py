"""Dask engine: the same functions as the one-process path, run as tasks on a LocalCluster or an
existing cluster, giving the same bytes (windows for generation, account-hash shards for
features and scores, seeds and settings for sweeps)."""

from finlab.engine.cluster import ClusterError, cluster

__all__ = ["ClusterError", "cluster"]
