"""Payment features: one row per payment, computed from the payment itself and from the payments
before it, so a model can score payments rather than accounts.

`payment_features(ds, mode=...)` returns a frame indexed by txn_id:
- `mode="strict"` (the default): only payments strictly earlier in time than the payment (an
  earlier second) are seen, so appending later payments never changes a payment's features;
- `mode="window"`: also the payments up to `horizon` seconds after it (the AMLworld protocol,
  whose test graph holds every edge), never the payment itself.

Three families, all vectorised over payments (numpy sort-and-searchsorted, see timeline.py):
the payment's own fields, each end's activity over trailing windows of 1 hour, 1 day and 7 days
plus the pair's history, and graph patterns through the payment (payment_graph.py). Labels are
never read. Data whose timestamps carry no time of day lose the time-of-day features and the
1-hour windows (listed in `frame.attrs["left_out"]`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from finlab.errors import InputError
from finlab.features.ledger import DAY, REPORTING_THRESHOLD, Ledger, build_ledger, per_category
from finlab.features.timeline import Timeline, previous_same, window_total
from finlab.schema import Dataset

Mode = Literal["strict", "window"]
HOUR = 3_600
#: trailing windows of the activity features: name -> seconds
WINDOWS = {"1h": HOUR, "1d": DAY, "7d": 7 * DAY}
#: how far after a payment `window` mode looks (the horizon of AMLworld-style patterns)
DEFAULT_HORIZON = DAY
RISK_LEVELS = {"low": 0, "medium": 1, "high": 2}


@dataclass
class PaymentView:
    """What every payment feature reads: the ledger (payments in time order) and the visible
    time range of each payment, [lo_offset, hi_offset) around its own time."""

    ledger: Ledger
    txn_id: np.ndarray
    mode: Mode
    horizon: int
    timed: bool  # timestamps carry a time of day

    @property
    def n(self) -> int:
        return self.txn_id.size

    def upper(self) -> np.ndarray:
        """Exclusive end of what each payment may see: its own second (strict) or the horizon."""
        t = self.ledger.t
        return t if self.mode == "strict" else t + self.horizon + 1

    @property
    def windows(self) -> dict[str, int]:
        return WINDOWS if self.timed else {k: v for k, v in WINDOWS.items() if v >= DAY}


def payment_view(ds: Dataset, mode: Mode = "strict", horizon: int = DEFAULT_HORIZON
                 ) -> PaymentView:
    if mode not in ("strict", "window"):
        raise InputError(f"payment features: mode must be 'strict' or 'window', got {mode!r}")
    if int(horizon) < 1:
        raise InputError(f"payment features: horizon must be at least 1 second, got {horizon}")
    lg = build_ledger(ds)
    timed = lg.t.size == 0 or np.unique(lg.t % DAY).size > 1
    return PaymentView(lg, lg.extra["txn_id"], mode, int(horizon), bool(timed))


def payment_features(ds: Dataset, mode: Mode = "strict", horizon: int = DEFAULT_HORIZON
                     ) -> pd.DataFrame:
    """Every payment's features (float32 columns, indexed by txn_id in time order)."""
    view = payment_view(ds, mode, horizon)
    names = payment_feature_names(view.timed)
    table = np.empty((view.n, len(names)), np.float32)  # float32: 10M payments in ~3 GiB
    at = {name: j for j, name in enumerate(names)}
    for name, column in feature_columns(view, ds):
        table[:, at[name]] = column
    frame = pd.DataFrame(table, index=pd.Index(view.txn_id, name="txn_id"), columns=names,
                         copy=False)
    frame.attrs["mode"] = mode
    frame.attrs["left_out"] = left_out_features(view.timed)
    return frame


def feature_columns(view: PaymentView, ds: Dataset) -> Iterator[tuple[str, np.ndarray]]:
    """Every feature column by name, group after group, so only one group's arrays are alive
    at a time."""
    from finlab.features.payment_graph import pattern_features

    yield from own_fields(view, ds).items()
    yield from end_activity(view)
    yield from pair_history(view).items()
    yield from pattern_features(view).items()


def left_out_features(timed: bool) -> list[str]:
    """Features a dataset without time of day cannot feed (they are not computed)."""
    if timed:
        return []
    hourly = [c for c in payment_feature_names() if c.endswith("_1h") or c == "hour_local"]
    return hourly


def payment_feature_names(timed: bool = True) -> list[str]:
    """Every column `payment_features` produces, in order."""
    from finlab.features.payment_graph import PATTERN_COLUMNS

    names = list(OWN_COLUMNS)
    windows = WINDOWS if timed else {k: v for k, v in WINDOWS.items() if v >= DAY}
    names += [f"{e}_{what}_{w}" for w in windows for e, what in ACTIVITY]
    names += PAIR_COLUMNS + PATTERN_COLUMNS
    return [n for n in names if timed or n != "hour_local"]


# --- the payment's own fields -----------------------------------------------------------------

OWN_COLUMNS = [
    "amount", "amount_log", "amount_vs_payer_usual", "payer_prior_payments", "channel",
    "payment_format", "currency", "cross_currency", "cross_border", "src_country_risk",
    "dst_country_risk", "round_amount", "round_hundred", "just_below_threshold", "cover_word",
    "hour_local",
]


def stable_code(values: pd.Series, limit: int = 64) -> np.ndarray:
    """A code per row that is the same on every slice of a dataset (a hash of the text), for a
    column with few distinct values (a payment format); -1 when it holds free text."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    used = pd.unique(cat.cat.codes.to_numpy())
    if used.size > limit:
        return np.full(len(values), -1.0)
    return per_category(cat, lambda c: (pd.util.hash_array(c.to_numpy(object)) % 1021)
                        .astype(np.float64), fill=-1.0)


def own_fields(view: PaymentView, ds: Dataset) -> dict[str, np.ndarray]:
    lg = view.ledger
    tx = ds.transactions.set_index("txn_id").reindex(view.txn_id)
    amount = lg.amount
    # the payer's usual amount: mean of its payments strictly before (all history)
    payer = Timeline(lg.src, lg.t)
    left, right = payer.bounds(lg.src, np.full(view.n, payer.t0), lg.t)
    count, total = window_total(payer.prefix(), left, right), window_total(
        payer.prefix(amount), left, right)
    usual = np.divide(total, count, out=np.zeros(view.n), where=count > 0)
    countries = ds.countries.assign(country=ds.countries["country"].astype(str))
    risk = countries["risk"].astype(str).str.lower().map(RISK_LEVELS).fillna(1).to_numpy()
    risk = np.append(risk, -1.0)
    currencies = pd.Index(sorted(countries["currency"].astype(str).unique()))
    acc_currency = ds.accounts.set_index("account_id")["currency"].astype(str).reindex(
        lg.account_id)
    acc_code = currencies.get_indexer(acc_currency)
    pay_code = per_category(tx["currency"], currencies.get_indexer)
    local = lg.amount_local
    return {
        "amount": amount,
        "amount_log": np.log1p(np.maximum(amount, 0)),
        "amount_vs_payer_usual": np.divide(amount, usual, out=np.ones(view.n), where=usual > 0),
        "payer_prior_payments": count,
        "channel": lg.channel.astype(np.float64),
        "payment_format": stable_code(tx["reference"]),
        "currency": pay_code.astype(np.float64),
        "cross_currency": (acc_code[lg.src] != acc_code[lg.dst]) | (pay_code != acc_code[lg.src]),
        "cross_border": lg.cross_border,
        "src_country_risk": risk[lg.src_country],
        "dst_country_risk": risk[lg.dst_country],
        "round_amount": lg.even,
        "round_hundred": np.abs(local - 100 * np.round(local / 100)) < 1e-6,
        "just_below_threshold": (amount >= 0.9 * REPORTING_THRESHOLD)
        & (amount < REPORTING_THRESHOLD),
        "cover_word": lg.cover_word,
    } | ({"hour_local": lg.local_hour} if view.timed else {})


# --- each end's activity before the payment -----------------------------------------------------

#: (end, what): src/dst = payer/payee; out/in = payments made/received; cp = counterparties
#: (distinct, see `end_activity`); new = first-ever counterparties
ACTIVITY = [(e, f"{d}_{k}") for e in ("src", "dst") for d in ("out", "in")
            for k in ("count", "sum", "cp", "new")]


def end_activity(view: PaymentView) -> Iterator[tuple[str, np.ndarray]]:
    """Per end (payer, payee), direction (paid out, received) and trailing window: payments,
    sums, counterparties and new counterparties, yielded a column at a time (all 48 at once
    would hold 1.9 GiB more at 10 million payments).

    Counterparties counts the window's payments whose pair had not paid in the window's length
    before that payment: the distinct counterparties when a pair pays at most once a window, a
    lower bound otherwise (exact distinct counts per payment and window would need a join).
    New counterparties counts payments that were the first ever of their pair. In `window` mode
    the payment itself is left out of its own ends' counts."""
    lg = view.ledger
    t, upper = lg.t, view.upper()
    pair_prev = previous_same(lg.src.astype(np.int64) * lg.n_accounts + lg.dst, t)
    first = pair_prev < t.min() - 1 if t.size else np.zeros(0, bool)
    timelines = {"out": Timeline(lg.src, t), "in": Timeline(lg.dst, t)}
    prefixes = {d: (tl.prefix(), tl.prefix(lg.amount), tl.prefix(first)) for d, tl in
                timelines.items()}
    for wname, w in view.windows.items():
        gap = (t - pair_prev) > w
        for end, who in (("src", lg.src), ("dst", lg.dst)):
            for d, tl in timelines.items():
                left, right = tl.bounds(who, t - w, upper)
                n_p, s_p, f_p = prefixes[d]
                count = window_total(n_p, left, right)
                total = window_total(s_p, left, right)
                cp = window_total(tl.prefix(gap), left, right)
                new = window_total(f_p, left, right)
                if view.mode == "window" and (end, d) in (("src", "out"), ("dst", "in")):
                    count, total, new = count - 1, total - lg.amount, new - first
                    cp = cp - gap
                yield f"{end}_{d}_count_{wname}", count
                yield f"{end}_{d}_sum_{wname}", total
                yield f"{end}_{d}_cp_{wname}", cp
                yield f"{end}_{d}_new_{wname}", new


# --- the pair's history -------------------------------------------------------------------------

PAIR_COLUMNS = ["pair_first", "pair_before", "pair_before_7d", "reverse_before_7d"]


def pair_history(view: PaymentView) -> dict[str, np.ndarray]:
    """Whether the payment is the pair's first, how many the pair made before (all history and
    7 days), and how many the payee paid the payer in the 7 days before (a reply)."""
    lg = view.ledger
    n = lg.n_accounts
    pair = lg.src.astype(np.int64) * n + lg.dst
    reverse = lg.dst.astype(np.int64) * n + lg.src
    tl = Timeline(pair, lg.t)
    ones = tl.prefix()
    left, right = tl.bounds(pair, np.full(view.n, tl.t0), lg.t)
    before = window_total(ones, left, right)
    left7, right7 = tl.bounds(pair, lg.t - 7 * DAY, view.upper())
    before7 = window_total(ones, left7, right7) - (view.mode == "window")
    left_r, right_r = tl.bounds(reverse, lg.t - 7 * DAY, view.upper())
    return {"pair_first": before == 0, "pair_before": before, "pair_before_7d": before7,
            "reverse_before_7d": window_total(ones, left_r, right_r)}
