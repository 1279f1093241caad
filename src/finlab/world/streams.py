"""Payment streams: the plan of who pays whom on which schedule, and its materialisation by window.

A behaviour plans `Streams` once for the whole period (columnar arrays, one row per payer-payee
relationship). `materialize` then turns the streams into transactions for one time window, using
only the window's own random stream and counter-based hashes, so any window can be produced alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from finlab.rng import hash_uniform
from finlab.world.rhythm import WEEKDAY_NAMES, WEEKDAYS, sample_seconds_of_day

POISSON, MONTHLY = 0, 1
DAY = 86_400


@dataclass(frozen=True)
class Window:
    """Days [start, end) counted from the first day of the period."""

    index: int
    start: int
    end: int


def windows(days: int, window_days: int) -> list[Window]:
    starts = range(0, days, window_days)
    return [Window(i, s, min(s + window_days, days)) for i, s in enumerate(starts)]


@dataclass
class TxnBlock:
    """Transactions as parallel arrays; accounts are positions in the world's account table."""

    ts: np.ndarray  # int64 seconds since the epoch, UTC
    src: np.ndarray  # int64 account positions
    dst: np.ndarray
    amount: np.ndarray  # float64 in the payer account's currency
    channel: np.ndarray  # int8 code into schema.CHANNELS
    reference: np.ndarray  # int32 code into the world's vocabulary
    case_id: np.ndarray = field(default=None)  # int64, -1 for none
    typology: np.ndarray = field(default=None)  # int16 code into world.label_names, 0 for none

    def __post_init__(self) -> None:
        n = self.ts.size
        if self.case_id is None:
            self.case_id = np.full(n, -1, dtype=np.int64)
        if self.typology is None:
            self.typology = np.zeros(n, dtype=np.int16)

    def __len__(self) -> int:
        return int(self.ts.size)

    @classmethod
    def concat(cls, blocks: list[TxnBlock]) -> TxnBlock:
        if not blocks:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields(cls)})

    @classmethod
    def empty(cls) -> TxnBlock:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, np.zeros(0), np.zeros(0, np.int8), np.zeros(0, np.int32))

    def take(self, idx: np.ndarray) -> TxnBlock:
        return TxnBlock(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _col(value, n: int, dtype) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    return np.broadcast_to(arr, (n,)).copy() if arr.ndim == 0 else arr.astype(dtype, copy=False)


@dataclass
class Streams:
    """Recurring payer -> payee relationships. Scalars broadcast to one value per stream.

    schedule POISSON: `rate` payments a day on average, days shaped by the weekday profile.
    schedule MONTHLY: one payment a month on `day_of_month` plus up to `jitter_days` days.
    Amounts are log-normal around `median` (in the base currency) with spread `sigma`; `even`
    rounds them to a round figure in the payer's currency, otherwise to cents. `growth` and
    `amount_growth` (log change per 30 days from `start_day`) make payments more frequent and larger
    over time (escalation). `case_id` and `label` mark the payments of a typology or look-alike.
    """

    src: np.ndarray
    dst: np.ndarray
    key: np.ndarray  # uint64 per stream, for window-independent hashing
    schedule: np.ndarray
    rate: np.ndarray
    day_of_month: np.ndarray
    jitter_days: np.ndarray
    median: np.ndarray
    sigma: np.ndarray
    even: np.ndarray
    channel: np.ndarray
    reference: np.ndarray
    hours: np.ndarray
    weekdays: np.ndarray
    start_day: np.ndarray
    end_day: np.ndarray
    growth: np.ndarray
    amount_growth: np.ndarray
    case_id: np.ndarray
    label: np.ndarray
    reference_pool: np.ndarray | None = None  # codes drawn per payment instead of `reference`

    @classmethod
    def build(cls, rng: np.random.Generator, *, src, dst, schedule=POISSON, rate=0.0,
              day_of_month=1, jitter_days=0, median, sigma=0.0, even=False, channel,
              reference=0, hours=0, weekdays=0, start_day=0, end_day=10**6, growth=0.0,
              amount_growth=0.0, case_id=-1, label=0, reference_pool=None) -> Streams:
        src = np.asarray(src, dtype=np.int64)
        n = src.size
        return cls(
            src=src,
            dst=_col(dst, n, np.int64),
            key=rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64),
            schedule=_col(schedule, n, np.int8),
            rate=_col(rate, n, np.float64),
            day_of_month=_col(day_of_month, n, np.int16),
            jitter_days=_col(jitter_days, n, np.int16),
            median=_col(median, n, np.float64),
            sigma=_col(sigma, n, np.float64),
            even=_col(even, n, np.bool_),
            channel=_col(channel, n, np.int8),
            reference=_col(reference, n, np.int32),
            hours=_col(hours, n, np.int8),
            weekdays=_col(weekdays, n, np.int8),
            start_day=_col(start_day, n, np.int32),
            end_day=_col(end_day, n, np.int32),
            growth=_col(growth, n, np.float64),
            amount_growth=_col(amount_growth, n, np.float64),
            case_id=_col(case_id, n, np.int64),
            label=_col(label, n, np.int16),
            reference_pool=None if reference_pool is None else np.asarray(reference_pool, np.int32),
        )

    def __len__(self) -> int:
        return int(self.src.size)


def round_amounts(amount: np.ndarray, even: np.ndarray) -> np.ndarray:
    """Cents for ordinary amounts; a round figure (5, 10, 50, 100, ... steps) where `even`."""
    amount = np.maximum(amount, 0.01)
    out = np.round(amount, 2)
    if even.any():
        a = amount[even]
        step = 5.0 * 10.0 ** (np.floor(np.log10(np.maximum(a, 1.0))) - 1)
        step = np.maximum(step, 1.0)
        out[even] = np.maximum(np.round(a / step) * step, step)
    return out


@dataclass(frozen=True)
class Clock:
    """What materialisation needs to know about time and money for each account position."""

    epoch: int  # UTC seconds of the period's first midnight
    start_weekday: int  # Monday = 0
    month_starts: np.ndarray  # day index (from period start) of each month's first day
    utc_offset_s: np.ndarray  # per account position
    fx: np.ndarray  # per account position: base-currency value of one unit of its currency


def _poisson_events(s: Streams, sel: np.ndarray, w: Window, clock: Clock, rng) -> tuple:
    lo = np.maximum(s.start_day[sel], w.start)
    hi = np.minimum(s.end_day[sel], w.end)
    span = np.clip(hi - lo, 0, None)
    profiles = np.stack([WEEKDAYS[n] / WEEKDAYS[n].mean() for n in WEEKDAY_NAMES])
    peak = profiles.max(axis=1)[s.weekdays[sel]]
    g = s.growth[sel] / 30.0
    start = s.start_day[sel]
    boost = np.exp(np.maximum(g * (hi - start), g * (lo - start)))  # the highest rate in the window
    counts = rng.poisson(s.rate[sel] * span * peak * boost)
    which = np.repeat(np.arange(sel.size), counts)
    rows = sel[which]
    day = lo[which] + np.floor(rng.random(rows.size) * span[which]).astype(np.int64)
    weekday = (clock.start_weekday + day) % 7
    accept = profiles[s.weekdays[rows], weekday] / peak[which]
    accept *= np.exp(g[which] * (day - start[which])) / boost[which]
    keep = rng.random(rows.size) < accept
    return rows[keep], day[keep]


def _monthly_events(s: Streams, sel: np.ndarray, w: Window, clock: Clock) -> tuple:
    rows_out, days_out = [], []
    for m, first in enumerate(clock.month_starts):
        if first > w.end or first + 31 + 7 < w.start:
            continue
        jitter = np.floor(
            hash_uniform(np.uint64(0x5EED), s.key[sel], np.full(sel.size, m))
            * (s.jitter_days[sel] + 1)
        ).astype(np.int64)
        day = first + s.day_of_month[sel].astype(np.int64) - 1 + jitter
        ok = (day >= w.start) & (day < w.end) & (day >= s.start_day[sel]) & (day < s.end_day[sel])
        rows_out.append(sel[ok])
        days_out.append(day[ok])
    if not rows_out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows_out), np.concatenate(days_out)


def materialize(s: Streams, w: Window, clock: Clock, rng: np.random.Generator) -> TxnBlock:
    """All payments of these streams that fall in window `w`, as a block."""
    if len(s) == 0:
        return TxnBlock.empty()
    p_rows, p_days = _poisson_events(s, np.flatnonzero(s.schedule == POISSON), w, clock, rng)
    m_rows, m_days = _monthly_events(s, np.flatnonzero(s.schedule == MONTHLY), w, clock)
    rows = np.concatenate([p_rows, m_rows])
    days = np.concatenate([p_days, m_days])
    src = s.src[rows]
    local = sample_seconds_of_day(rng, s.hours[rows])
    seconds_in_day = np.mod(local - clock.utc_offset_s[src], DAY)
    ts = clock.epoch + days * DAY + seconds_in_day
    growth = s.amount_growth[rows] * (days - s.start_day[rows]) / 30.0
    amount_base = s.median[rows] * np.exp(s.sigma[rows] * rng.standard_normal(rows.size) + growth)
    amount = round_amounts(amount_base / clock.fx[src], s.even[rows])
    if s.reference_pool is not None:
        reference = s.reference_pool[rng.integers(0, s.reference_pool.size, rows.size)]
    else:
        reference = s.reference[rows]
    return TxnBlock(
        ts=ts.astype(np.int64),
        src=src,
        dst=s.dst[rows],
        amount=amount,
        channel=s.channel[rows],
        reference=reference,
        case_id=s.case_id[rows],
        typology=s.label[rows],
    )
