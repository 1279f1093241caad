"""Seeded random streams: every component draws from a Generator derived from (seed, name, shard).

No global random state anywhere in finlab. A window of the simulation gets its own stream from the
seed and the window index, so windows give the same output whether they run in order or in parallel.
"""

from __future__ import annotations

import hashlib

import numpy as np

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def generator(seed: int, *names: str | int) -> np.random.Generator:
    """A Generator that depends only on the seed and the component path, e.g. ("salary", 3)."""
    keys = [int(seed)] + [_name_key(n) if isinstance(n, str) else int(n) for n in names]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(keys)))


def stable_key(seed: int, *names: str | int) -> np.uint64:
    """A 64-bit key for counter-based hashing, derived like `generator`."""
    rng = generator(seed, *names)
    return np.uint64(rng.integers(0, 2**63, dtype=np.int64))


def splitmix64(x: np.ndarray) -> np.ndarray:
    """Vectorized SplitMix64 finaliser: a well-mixed uint64 from each uint64 input."""
    z = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z & _MASK64


def hash_uniform(key: np.uint64, *counters: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) values that depend only on the key and the counters, not on call order.

    Used where a decision must be the same whichever window asks for it (a monthly payment's
    day, for example).
    """
    with np.errstate(over="ignore"):
        h = np.full(np.broadcast(*counters).shape if counters else (), key, dtype=np.uint64)
        for c in counters:
            h = splitmix64(h ^ np.asarray(c).astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def opaque_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct random positive int64 ids in random order: they say nothing about what they name."""
    ids = np.empty(0, dtype=np.int64)
    while ids.size < n:
        draw = rng.integers(10**9, 2**53, size=int(n * 1.05) + 16, dtype=np.int64)
        ids = np.unique(np.concatenate([ids, draw]))
    ids = rng.permutation(ids)[:n]
    return ids
