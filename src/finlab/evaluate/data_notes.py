"""Data notes: which features a dataset cannot feed, and why.

An imported dataset lacks fields that finlab's own worlds have (AMLSim has no payment references,
countries or time of day). The features built on such a field are constant, or only repeat other
features, so every detector in effect runs without them; the notes say so next to the results.
Each check looks at the data itself (vectorised, on distinct values where it can) and at what the
importer recorded in manifest["interop"]."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from finlab.features.ledger import REPORTING_THRESHOLD
from finlab.schema import CHANNELS, Dataset


def distinct(col: pd.Series) -> pd.Index:
    """The distinct non-blank values of a column as text (from its distinct values only)."""
    values = pd.Index(np.asarray(pd.unique(col.dropna()), dtype=object)).astype(str).str.strip()
    return values[values != ""].unique()


def _both_ends(ds: Dataset, field: str) -> pd.Index:
    tx = ds.transactions
    return distinct(tx[f"src_{field}"]).union(distinct(tx[f"dst_{field}"]))


def _no_high_risk_payee(ds: Dataset) -> bool:
    risk = ds.countries.set_index(ds.countries["country"].astype(str))["risk"].astype(str)
    high = risk.index[risk.str.lower() == "high"]
    return not distinct(ds.transactions["dst_country"]).isin(high).any()


def _one_time_of_day(ds: Dataset) -> bool:
    ts = ds.transactions["ts"].dt.tz_convert("UTC").astype("datetime64[s, UTC]").astype("int64")
    second = ts.to_numpy() % 86_400
    return bool((second == second[:1]).all())


def _nothing_below_threshold(ds: Dataset) -> bool:
    """No amount within 20% below the reporting threshold (the widest band a feature counts)."""
    amount = ds.transactions["amount_base"].to_numpy()
    return not ((amount >= 0.8 * REPORTING_THRESHOLD) & (amount < REPORTING_THRESHOLD)).any()


def _no_households(ds: Dataset) -> bool:
    households = ds.parties["household_id"]
    return households.nunique() == len(households)


def _synthesised(field: str) -> Callable[[Dataset], bool]:
    return lambda ds: field in ((ds.manifest.get("interop") or {}).get("missing_fields") or [])


@dataclass(frozen=True)
class Gap:
    """A field the features read, how to tell the data lacks it, and the features that then say
    nothing (a regular expression on feature names)."""

    field: str
    lacking: Callable[[Dataset], bool]
    features: str
    why: str


GAPS = (
    Gap("transactions.reference", lambda ds: distinct(ds.transactions["reference"]).size <= 1,
        r"cover_word_count_\d+d",
        "no payment references (all blank or all alike): cover-word counts are constant"),
    Gap("transactions.src_country / dst_country", lambda ds: _both_ends(ds, "country").size <= 1,
        r"(in_)?cross_border_share_\d+d|cross_border_(gap_cv|escalation|gap_trend)_\d+d|"
        r"high_risk_\w+|in_foreign_senders_\d+d|in_countries_\d+d",
        "one country only: nothing is cross-border, so corridor, high-risk and foreign-sender "
        "features are constant (and distinct payer countries only say whether money came in)"),
    Gap("countries.risk", _no_high_risk_payee, r"high_risk_\w+",
        "no payment goes to a country rated high risk: high-risk features are constant"),
    Gap("transactions.ts (time of day)", _one_time_of_day, r"night_share_\d+d",
        "every payment has the same time of day (whole days): night-time shares only say "
        "whether an account paid at all"),
    Gap("transactions.channel", lambda ds: distinct(ds.transactions["channel"]).size <= 1,
        rf"({'|'.join(CHANNELS)})_share_\d+d",
        "one channel only: channel shares only say whether an account paid at all"),
    Gap("transactions.amount_base (just below the reporting threshold)", _nothing_below_threshold,
        r"below_threshold_count_\d+d|(out|in)_below_threshold_peak_\d+d",
        f"no amount falls within 20% below the reporting threshold ({REPORTING_THRESHOLD:,.0f} "
        "in the base currency): structuring counts are constant"),
    Gap("transactions.src_bank / dst_bank", lambda ds: _both_ends(ds, "bank").size <= 1,
        r"in_banks_\d+d", "one bank only: distinct payer banks only say whether money came in"),
    Gap("parties.household_id", _no_households,
        r"out_unrelated_\d+d|in_unrelated_households_\d+d|high_risk_unrelated_\d+d",
        "no households (each party on its own): the family-link counts repeat the plain "
        "distinct-counterparty counts"),
    Gap("accounts.kind", lambda ds: distinct(ds.accounts["kind"]).size <= 1,
        r"personal_account|business_account", "every account is of one kind: constant"),
    Gap("accounts.opened_at", _synthesised("accounts.opened_at"), r"account_age_days",
        "synthesised on import from the first payment seen: account age is the time since that "
        "payment, not since opening"),
)


def data_notes(ds: Dataset) -> dict:
    """Where the data came from and, per field it lacks, the features left out in effect
    ("missing" is empty for a generated finlab world)."""
    from finlab.features import feature_names

    interop = ds.manifest.get("interop") or {}
    names = feature_names()
    missing = []
    for gap in GAPS:
        if gap.lacking(ds):
            pattern = re.compile(gap.features)
            missing.append({"field": gap.field, "why": gap.why,
                            "features": [n for n in names if pattern.fullmatch(n)]})
    left_out = {f for m in missing for f in m["features"]}
    return {
        "source_format": interop.get("format", "finlab"),
        "layout": interop.get("layout"),
        "synthesised_on_import": list(interop.get("missing_fields") or []),
        "dropped_on_import": list(interop.get("dropped_fields") or []),
        "missing": missing,
        "features_left_out": [n for n in names if n in left_out],
        "features_total": len(names),
        "payment_features_left_out": payment_left_out(ds, missing),
    }


#: payment features (finlab.features.payments) that say nothing when a field is lacking
PAYMENT_GAPS = {
    "transactions.reference": r"cover_word|payment_format",
    "transactions.src_country / dst_country": r"cross_border|(src|dst)_country_risk",
    "countries.risk": r"dst_country_risk",
    "transactions.ts (time of day)": r"hour_local|\w+_1h",
    "transactions.channel": r"channel",
}


def payment_left_out(ds: Dataset, missing: list[dict]) -> list[str]:
    """Payment features left out: without time of day the hourly ones are not computed at all;
    the others are constant where their field is lacking."""
    from finlab.features.payments import payment_feature_names

    names = payment_feature_names()
    patterns = [re.compile(PAYMENT_GAPS[m["field"]]) for m in missing if m["field"] in PAYMENT_GAPS]
    return [n for n in names if any(p.fullmatch(n) for p in patterns)]
