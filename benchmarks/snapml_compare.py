"""finlab's payment features against snapml's GraphFeaturePreprocessor (issue 14): speed and AP.

    nice -n 15 python benchmarks/snapml_compare.py /tmp/aml/ds

Computes, on one imported AMLworld-layout dataset (finlab import amlworld):
- snapml graph features for every payment, in the published AMLworld setting (1-day windows;
  fan-in/out, degree in/out, scatter-gather, temporal cycles, length-constrained simple cycles;
  vertex statistics of the amount). Like the published protocol, every payment is inserted first
  and the features are then computed on the whole graph, so a payment also sees the payments up
  to one day after it (comparable to finlab's window mode, not to strict mode);
- finlab's payment_features in strict and window mode.

Then fits the same HistGradientBoostingClassifier as payment_boosting (positives weighted
sqrt(neg/pos), ordinary payments sampled to 200k and weighted up) on the first 60% of days,
picks the F1-best threshold on the next 20%, and prints test AP and minority-class F1 at that
threshold over model seeds (mean and spread), for each feature set. Needs `pip install snapml`.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

import finlab
from finlab.evaluate.metrics import best_f1_threshold
from finlab.evaluate.splits import temporal_split, until
from finlab.features.payments import payment_features

DAY = 86_400
MAX_TRAIN_ROWS = 200_000


def machine() -> str:
    """Cores, RAM and load average of this machine, in one line."""
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, {mem_kib / 2**20:.1f} GiB RAM, load average {load}"


def raw_fields(tx: pd.DataFrame) -> pd.DataFrame:
    """Each payment's own fields as the file gives them (amount, currency, format, hour)."""
    ts = tx["ts"]
    return pd.DataFrame({
        "raw_amount_log": np.log1p(tx["amount"].to_numpy(np.float64)),
        "raw_amount_base_log": np.log1p(tx["amount_base"].fillna(tx["amount"]).to_numpy(np.float64)),
        "raw_currency": tx["currency"].cat.codes.to_numpy(np.float64),
        "raw_channel": tx["channel"].cat.codes.to_numpy(np.float64),
        "raw_format": tx["reference"].cat.codes.to_numpy(np.float64),
        "raw_same_bank": (tx["src_bank"].astype(str) == tx["dst_bank"].astype(str)).to_numpy(np.float64),
        "raw_hour": ts.dt.hour.to_numpy(np.float64),
        "raw_weekday": ts.dt.day_of_week.to_numpy(np.float64),
    }, index=pd.Index(tx["txn_id"].to_numpy(), name="txn_id"))


def snapml_params(threads: int) -> dict:
    """The published AMLworld GraphFeaturePreprocessor setting, all windows one day."""
    return {
        "num_threads": threads, "time_window": DAY,
        "vertex_stats": True, "vertex_stats_tw": DAY, "vertex_stats_cols": [4],
        "vertex_stats_feats": [0, 1, 2, 3, 4, 8, 9, 10],
        "fan": True, "fan_tw": DAY, "fan_bins": [2, 3, 4, 5, 6, 8, 10, 15, 20],
        "degree": True, "degree_tw": DAY, "degree_bins": [2, 3, 4, 5, 6, 8, 10, 15, 20],
        "scatter-gather": True, "scatter-gather_tw": DAY, "scatter-gather_bins": [2, 3, 4, 5, 6, 8, 10],
        "temp-cycle": True, "temp-cycle_tw": DAY, "temp-cycle_bins": [2, 3, 4, 5, 6, 8, 10],
        "lc-cycle": True, "lc-cycle_tw": DAY, "lc-cycle_len": 10,
        "lc-cycle_bins": [2, 3, 4, 5, 6, 7, 8, 9, 10],
    }


def snapml_features(tx: pd.DataFrame, threads: int) -> pd.DataFrame:
    """snapml graph features per payment (edge id, dense account ids, seconds, amount in)."""
    from snapml import GraphFeaturePreprocessor

    ids, _ = pd.factorize(pd.concat([tx["src_account"], tx["dst_account"]]), sort=False)
    n = len(tx)
    seconds = (tx["ts"].astype("int64").to_numpy() // 1000).astype(np.float64)  # ms -> s
    edges = np.column_stack([np.arange(n, dtype=np.float64), ids[:n].astype(np.float64),
                             ids[n:].astype(np.float64), seconds - seconds.min(),
                             tx["amount_base"].fillna(tx["amount"]).to_numpy(np.float64)])
    gfp = GraphFeaturePreprocessor()
    gfp.set_params(snapml_params(threads))
    out = gfp.fit_transform(edges)[:, edges.shape[1]:]
    names = [f"snap_{j}" for j in range(out.shape[1])]
    return pd.DataFrame(out.astype(np.float32), columns=names,
                        index=pd.Index(tx["txn_id"].to_numpy(), name="txn_id"))


def timed(label: str, fn, *args, **kw):
    """Run fn, print its wall time with the load average, return (result, seconds)."""
    start = time.perf_counter()
    result = fn(*args, **kw)
    took = time.perf_counter() - start
    print(f"{label:<24} {took:8.1f} s   {result.shape[1]:4d} features   "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    return result, took


def fit_score(X: np.ndarray, y: np.ndarray, train: np.ndarray, seed: int) -> np.ndarray:
    """Fit payment_boosting's model on the training rows and score every row."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    Xt, yt = X[train], y[train]
    pos = int(yt.sum())
    weight = float(np.sqrt((yt.size - pos) / pos))
    w = np.where(yt == 1, weight, 1.0)
    if yt.size > MAX_TRAIN_ROWS:  # as payment_boosting: every positive, a sample of the rest
        share = (MAX_TRAIN_ROWS - pos) / (yt.size - pos)
        keep = (yt == 1) | (np.random.default_rng(seed).random(yt.size) < share)
        Xt, yt, w = Xt[keep], yt[keep], np.where(yt[keep] == 1, weight, 1.0 / share)
    model = HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.1, max_leaf_nodes=31, min_samples_leaf=20,
        l2_regularization=1.0, early_stopping=False, random_state=seed)
    model.fit(Xt, yt, sample_weight=w)
    return model.predict_proba(X)[:, 1]


def evaluate(X: np.ndarray, y: np.ndarray, part: np.ndarray, seeds: list[int]) -> dict:
    """Test AP and F1 at the validation threshold, per seed (part: 0 train, 1 val, 2 test)."""
    from sklearn.metrics import average_precision_score, f1_score

    ap, f1 = [], []
    for seed in seeds:
        s = fit_score(X, y, part == 0, seed)
        thr = best_f1_threshold(y[part == 1], s[part == 1])
        ap.append(average_precision_score(y[part == 2], s[part == 2]))
        f1.append(f1_score(y[part == 2], s[part == 2] >= thr, zero_division=0))
    return {"ap": np.array(ap), "f1": np.array(f1)}


def spread(v: np.ndarray) -> str:
    """Mean and half range of per-seed values."""
    return f"{v.mean():.3f} ± {(v.max() - v.min()) / 2:.3f}"


def main() -> None:
    """Time both feature builders on one dataset and compare their detection quality."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="an imported AMLworld-layout dataset (finlab import amlworld)")
    ap.add_argument("--seeds", type=int, default=3, help="model seeds")
    ap.add_argument("--threads", type=int, default=2, help="snapml threads")
    ap.add_argument("--days", type=int, default=None, help="first N days only (a smoke test)")
    args = ap.parse_args()

    print(f"machine: {machine()}")
    ds = finlab.load(args.dataset)
    if args.days:
        ds = until(ds, ds.transactions["ts"].min().floor("D") + pd.Timedelta(days=args.days))
    tx = ds.transactions.sort_values(["ts", "txn_id"], kind="stable").reset_index(drop=True)
    print(f"dataset: {args.dataset}: {len(tx):,} payments")

    snap, t_snap = timed("snapml GFP", snapml_features, tx, args.threads)
    strict, t_strict = timed("finlab strict", payment_features, ds, mode="strict")
    window, t_window = timed("finlab window", payment_features, ds, mode="window")
    raw = raw_fields(tx)

    labels = ds.labels.transactions.set_index("txn_id")["is_suspicious"]
    index = raw.index
    y = labels.reindex(index).fillna(False).to_numpy().astype(np.int8)
    split = temporal_split(ds)
    ts = tx["ts"]
    part = np.where(ts < split.train_end, 0, np.where(ts < split.validation_end, 1, 2))
    print(f"split: train {np.sum(part == 0):,} ({y[part == 0].sum()} positive), "
          f"validation {np.sum(part == 1):,} ({y[part == 1].sum()}), "
          f"test {np.sum(part == 2):,} ({y[part == 2].sum()})")

    sets = {
        "raw fields": raw,
        "snapml + raw fields": pd.concat([raw, snap], axis=1),
        "finlab strict": strict.reindex(index),
        "finlab window": window.reindex(index),
        "finlab window + snapml": pd.concat([window.reindex(index), snap], axis=1),
    }
    seeds = list(range(args.seeds))
    print(f"\n| features | columns | test AP | test F1 (val threshold) |   seeds {seeds}")
    print("|---|---:|---:|---:|")
    for name, frame in sets.items():
        r = evaluate(frame.to_numpy(np.float64), y, part, seeds)
        print(f"| {name} | {frame.shape[1]} | {spread(r['ap'])} | {spread(r['f1'])} |", flush=True)
    print(f"\nfeature time: snapml {t_snap:.1f} s, finlab strict {t_strict:.1f} s, "
          f"finlab window {t_window:.1f} s")
    print(f"machine at the end: {machine()}")


if __name__ == "__main__":
    main()
