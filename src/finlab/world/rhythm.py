"""Hour-of-day and day-of-week profiles (in the payer's local time) shared by all flows."""

from __future__ import annotations

import numpy as np


def _norm(w) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    return w / w.sum()


#: hour-of-day weights, local time, index 0 = 00:00-00:59
HOURS: dict[str, np.ndarray] = {
    # bank batch runs early in the morning
    "batch": _norm([0, 0, 0, 0, 1, 3, 6, 6, 3, 1, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.2, 0.1, 0, 0, 0, 0, 0, 0]),
    # office hours
    "office": _norm([0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5, 1.5, 3, 4, 4, 4, 3, 4, 4, 4, 3, 2, 1, 0.6,
                     0.4, 0.3, 0.2, 0.1]),
    # shops: lunch and after-work peaks
    "shopping": _norm([0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.4, 1, 1.5, 2, 2.5, 3, 3.5, 3, 2.5, 2.5, 3,
                       3.8, 4, 3.5, 2.5, 1.6, 0.8, 0.4]),
    # personal transfers: daytime and evening
    "personal": _norm([0.3, 0.15, 0.1, 0.05, 0.05, 0.1, 0.3, 0.8, 1.2, 1.5, 1.8, 2, 2.2, 2, 1.9, 1.9,
                       2, 2.2, 2.5, 2.8, 2.8, 2.4, 1.6, 0.8]),
    # leisure online: evening into the night
    "evening": _norm([1.5, 1, 0.6, 0.3, 0.2, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1, 1, 1.1, 1.3, 1.6,
                      2, 2.6, 3.2, 3.5, 3.2, 2.4]),
    # late night and early morning
    "night": _norm([4, 3.5, 3, 2.5, 2, 1.5, 0.8, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.4,
                    0.5, 0.7, 1, 1.5, 2.2, 3, 3.8]),
}

#: day-of-week weights, Monday first
WEEKDAYS: dict[str, np.ndarray] = {
    "all": np.ones(7),
    "workdays": np.array([1, 1, 1, 1, 1, 0.05, 0.02]),
    "shopping": np.array([0.85, 0.85, 0.9, 0.95, 1.15, 1.25, 0.6]),
    "leisure": np.array([0.8, 0.8, 0.85, 0.9, 1.1, 1.3, 1.2]),
}

HOUR_NAMES = tuple(HOURS)
WEEKDAY_NAMES = tuple(WEEKDAYS)


def hour_code(name: str) -> int:
    return HOUR_NAMES.index(name)


def weekday_code(name: str) -> int:
    return WEEKDAY_NAMES.index(name)


def sample_seconds_of_day(rng: np.random.Generator, profile: np.ndarray) -> np.ndarray:
    """Seconds after local midnight, one per entry of `profile` (an array of hour-profile codes)."""
    out = np.empty(profile.size, dtype=np.int64)
    for code in np.unique(profile):
        rows = np.flatnonzero(profile == code)
        cdf = np.cumsum(HOURS[HOUR_NAMES[code]])
        hours = np.searchsorted(cdf, rng.random(rows.size) * cdf[-1], side="right")
        out[rows] = np.minimum(hours, 23) * 3600 + rng.integers(0, 3600, rows.size)
    return out
