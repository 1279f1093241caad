"""A memory estimate for generating a scenario, checked before anything is allocated.

The figures are calibrated on measured peaks (benchmarks/safety.py prints them): the default
world (50,000 persons, 14-day windows, 6.9 million transactions) peaks at about 580 MB and the
classroom world at about 200 MB, most of it the interpreter and libraries. Memory grows with the
transactions of the windows in flight (persons x window days), with the accounts, and with the
typology cases planned up front. The estimate errs on the high side.
"""

from __future__ import annotations

import os
from pathlib import Path

from finlab.errors import InputError

BASE = 250e6  # interpreter, numpy, pandas, pyarrow, Faker pools
PER_PERSON_WINDOW_DAY = 600.0  # ~0.8 payments a person a day, ~700 bytes each, two windows in flight
PER_PARTY = 2_000.0  # accounts, names, households
PER_CASE_UNIT = 2_000.0  # per participant or payment a typology case may plan (its ranges' tops)
MIN_CASE_UNITS = 10


def case_units(spec) -> float:
    """How large one case of a typology may get: the product of the upper ends of its whole-number
    ranges (senders x beneficiaries, sources x sinks, hops x pool, ...), at least MIN_CASE_UNITS."""
    from finlab.typologies import TYPOLOGIES

    try:
        params = TYPOLOGIES.get(spec.name).Params.model_validate(spec.params or {})
    except Exception:  # noqa: BLE001 - unknown or invalid: reported by validation, not here
        return MIN_CASE_UNITS
    units = 1.0
    for name in type(params).model_fields:
        value = getattr(params, name)
        if (isinstance(value, tuple) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            units *= max(value)
    return max(units, MIN_CASE_UNITS)


def estimate_bytes(scenario) -> float:
    """Rough peak memory of `finlab generate` for `scenario`, in bytes (on the high side)."""
    pop = scenario.population
    merchants = sum(g.count for g in pop.merchants.values())
    parties = pop.persons + pop.businesses + merchants
    cases = sum(t.count * case_units(t) for t in scenario.typologies)
    window = min(scenario.period.window_days, scenario.period.days)
    return (BASE + PER_PERSON_WINDOW_DAY * pop.persons * window + PER_PARTY * parties
            + PER_CASE_UNIT * cases)


def available_bytes() -> float | None:
    """Memory this process may still use: MemAvailable, capped by a cgroup limit if any."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = float(line.split()[1]) * 1024
    except OSError:
        try:
            avail = float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = float(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            room = float(limit) - used
            avail = room if avail is None else min(avail, room)
    except (OSError, ValueError):
        pass
    return avail


def check_fits(scenario, source: str = "scenario") -> float:
    """Raise InputError when the scenario cannot fit in the memory available; return the
    estimate. Called before planning, so nothing is allocated for a scenario refused."""
    need = estimate_bytes(scenario)
    have = available_bytes()
    if have is not None and need > have:
        raise InputError(
            f"{source}: generating needs about {need / 2**30:.1f} GiB but {have / 2**30:.1f} GiB "
            "are available; lower population.persons, period.window_days, or typology counts and sizes")
    return need
