"""Pools of locale-appropriate names made once with Faker, then sampled with numpy indices.

Faker is slow per call (thousands of names a second), so it only fills small pools; every party
then takes its name from a pool by index.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from faker import Faker

POOL = 400


@lru_cache(maxsize=64)
def _faker(locale: str, seed: int) -> Faker:
    fake = Faker(locale, use_weighting=False)
    fake.seed_instance(seed)
    return fake


@lru_cache(maxsize=256)
def name_pool(locale: str, kind: str, seed: int) -> tuple[str, ...]:
    """A deterministic pool of first names, last names or company names for one locale."""
    fake = _faker(locale, seed)
    make = {"first": fake.first_name, "last": fake.last_name, "company": fake.company}[kind]
    names = {make() for _ in range(POOL)}
    return tuple(sorted(names))


def sample_names(rng: np.random.Generator, locale: str, kind: str, n: int, seed: int) -> np.ndarray:
    pool = np.array(name_pool(locale, kind, seed), dtype=object)
    return pool[rng.integers(0, pool.size, size=n)]
