"""What one level achieved, judged on the truth: offender recall and precision within the review
capacity, average precision of the final queues, days from the first illicit payment to the first
STR, the share of facilitator networks found, STR conversion and look-alikes reported."""

from __future__ import annotations

import numpy as np
import pandas as pd

from finlab.cooperation import feedback as fb
from finlab.cooperation.simulate import LevelRun
from finlab.truth import first_suspicious_time, look_alike_class, suspicious_accounts

#: the headline numbers compared across levels (all: higher is better, except days and FPs)
HEADLINE = ("offender_recall", "sender_recall", "facilitator_recall", "offender_precision",
            "average_precision", "median_days_to_detection", "networks_found",
            "network_coverage", "str_conversion_rate")


def level_metrics(run: LevelRun, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    """The metrics of one level; offenders are OCSE accounts whose first illicit payment came
    before the last filing (`end`). Days to detection count only offenders who started after the
    warm-up (`start`), whom every level could have caught from their first payment on."""
    from sklearn.metrics import average_precision_score

    world = run.world
    first = first_suspicious_time(world)
    off = fb.offenders(world.labels)
    new = pd.Index(run.new_accounts, dtype=np.int64)  # opened after listing: judged apart
    off = off[off["account_id"].isin(first.index[first < end]) & ~off["account_id"].isin(new)]
    strs = run.strs
    detected = strs.groupby("account_id")["filed_at"].min()
    hit = off["account_id"].isin(detected.index).to_numpy()
    side = off["side"].to_numpy()
    y = run.queue.index.isin(off["account_id"])
    fresh = off.loc[hit, "account_id"]
    fresh = fresh[(first.reindex(fresh) >= start).to_numpy()]
    days = (detected.reindex(fresh).to_numpy() - first.reindex(fresh).to_numpy()) / pd.Timedelta(
        days=1)
    facs = off.loc[side == "facilitator"]
    listed = run.listed[pd.to_datetime(run.listed["arrives_at"], utc=True) <= end]
    named = pd.Index(strs["account_id"]).union(pd.Index(listed["account_id"]))
    cases = off["case_id"].unique()
    found = facs.loc[facs["account_id"].isin(named), "case_id"].unique()
    decoys = look_alike_class(world.labels)  # a look-alike that is also an offender is not one
    reported = decoys.index.isin(strs["account_id"])
    return {
        "offenders": len(off),
        "offenders_after_warmup": int((first.reindex(off["account_id"]) >= start).sum()),
        "strs": len(strs),
        "offender_recall": _mean(hit),
        "sender_recall": _mean(hit[side == "sender"]),
        "facilitator_recall": _mean(hit[side == "facilitator"]),
        "offender_precision": _mean(strs["account_id"].isin(off["account_id"]).to_numpy()),
        "average_precision": float(average_precision_score(y, run.queue.to_numpy()))
        if 0 < y.sum() < y.size else None,
        "median_days_to_detection": float(np.median(np.maximum(days, 0))) if days.size else None,
        "networks_found": float(np.isin(cases, found).mean()) if cases.size else None,
        "network_coverage": _network_coverage(world.labels, off["account_id"], detected.index),
        "str_conversion_rate": _mean(
            strs["account_id"].isin(suspicious_accounts(world.labels)).to_numpy()),
        "decoy_false_positive_rate": {
            str(c): float(g.mean())
            for c, g in pd.Series(reported).groupby(decoys.to_numpy())},
        "new_accounts": int(new.size),
        "new_accounts_reported": int(new.isin(strs["account_id"]).sum()),
        "lists_sent": run.seen.get("lists_sent", 0),
        "disseminated": run.seen.get("disseminated", 0),
        "seconds": run.seconds,
    }


def with_changes(levels: dict[str, dict]) -> dict[str, dict]:
    """Each level's metrics plus `change_from_L0`: the difference of every number from L0's."""
    base = levels.get("L0")
    out = {}
    for name, m in levels.items():
        change = {} if base is None else _diff(m, base)
        out[name] = {**m, "change_from_L0": change}
    return out


def _diff(m: dict, base: dict) -> dict:
    out = {}
    for k, v in m.items():
        b = base.get(k)
        if isinstance(v, dict) and isinstance(b, dict):
            out[k] = _diff(v, b)
        elif isinstance(v, int | float) and isinstance(b, int | float) and k != "seconds":
            out[k] = v - b
    return out


def _network_coverage(labels, counted: pd.Series, reported: pd.Index) -> float | None:
    """The mean over networks of the share of each network's offenders reported (a sender who
    pays several networks counts in each)."""
    members = fb.offenders(labels, per_case=True)
    members = members[members["account_id"].isin(counted)]
    if members.empty:
        return None
    hit = members["account_id"].isin(reported).to_numpy()
    return float(pd.Series(hit).groupby(members["case_id"].to_numpy()).mean().mean())


def _mean(x: np.ndarray) -> float | None:
    return float(np.mean(x)) if np.size(x) else None
