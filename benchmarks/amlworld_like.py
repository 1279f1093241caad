"""Write an AMLworld-layout dataset (the 11-column *_Trans.csv and *_Patterns.txt that
`finlab import amlworld` reads) made independently of finlab's generator: ordinary payments
among accounts with habitual counterparties, merchants and payrolls (hard negatives: benign fans),
plus laundering attempts of 8 kinds (fan-in, fan-out, cycle, scatter-gather, gather-scatter,
bipartite, stack, random) and lone laundering payments.

    python benchmarks/amlworld_like.py --out DIR [--payments 400000] [--seed 0]
    finlab import amlworld DIR --out DIR-imported
    finlab run experiments/amlworld.yaml --dataset DIR-imported --out RUN
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = np.array(["ACH", "Cheque", "Credit Card", "Wire", "Cash", "Reinvestment", "Bitcoin"])
FORMAT_P = np.array([0.30, 0.15, 0.30, 0.08, 0.12, 0.04, 0.01])
CURRENCIES = np.array(["US Dollar", "Euro", "UK Pound", "Yuan", "Rupee", "Canadian Dollar"])
CURRENCY_P = np.array([0.55, 0.2, 0.08, 0.07, 0.05, 0.05])
KINDS = ["FAN-IN", "FAN-OUT", "CYCLE", "SCATTER-GATHER", "GATHER-SCATTER", "BIPARTITE", "STACK",
         "RANDOM"]


def background(rng, n_pay: int, n_acc: int, days: int):
    """Ordinary payments: each account pays mostly its habitual payees; merchants and payroll
    accounts fan in and out by design; daily rhythm by hour."""
    rate = rng.lognormal(0, 1.0, n_acc)
    src = rng.choice(n_acc, n_pay, p=rate / rate.sum())
    n_contacts = 8
    contacts = rng.integers(0, n_acc, (n_acc, n_contacts))
    merchants = rng.choice(n_acc, 300, replace=False)
    kind = rng.random(n_pay)
    dst = contacts[src, rng.integers(0, n_contacts, n_pay)]
    to_merchant = kind < 0.35
    dst[to_merchant] = merchants[rng.zipf(1.6, to_merchant.sum()) % merchants.size]
    new = (kind > 0.35) & (kind < 0.40)
    dst[new] = rng.integers(0, n_acc, new.sum())
    same = dst == src
    dst[same] = (dst[same] + 1) % n_acc
    day = rng.integers(0, days, n_pay)
    hour = np.clip(rng.normal(13, 4, n_pay), 0, 23.99)
    t = day * 1440 + (hour * 60).astype(int)
    amount = np.round(rng.lognormal(5.5, 1.6, n_pay), 2)
    fmt = rng.choice(FORMATS.size, n_pay, p=FORMAT_P)
    # payrolls: a business pays 10-40 staff in one batch (a benign fan-out)
    payroll_src = rng.choice(n_acc, 150, replace=False)
    rows = []
    for s in payroll_src:
        for d in rng.integers(0, days, 2):
            staff = rng.integers(0, n_acc, rng.integers(10, 40))
            tt = d * 1440 + 9 * 60 + rng.integers(0, 30, staff.size)
            rows.append((np.full(staff.size, s), staff, tt, np.round(rng.normal(3000, 600,
                         staff.size), 2).clip(500), np.full(staff.size, 0)))
    ps, pd_, pt, pa, pf = (np.concatenate(c) for c in zip(*rows, strict=True))
    return (np.r_[src, ps], np.r_[dst, pd_], np.r_[t, pt], np.r_[amount, pa], np.r_[fmt, pf])


def attempt(rng, kind: str, n_acc: int, days: int):
    """One laundering attempt: (src, dst, minute, amount) arrays, times increasing along the
    flow, within a few days. Attempts start anywhere in the period (as many in its last days as
    in its first); the caller drops the payments of one that runs past the end."""
    start = int(rng.integers(0, days * 1440))
    base = float(rng.lognormal(6.5, 1.4))

    def gaps(n):
        return start + np.cumsum(rng.integers(5, 600, n))

    pick = lambda k: rng.choice(n_acc, k, replace=False)
    if kind in ("FAN-IN", "FAN-OUT"):
        k = int(rng.integers(4, 14))
        hub, others = pick(1)[0], pick(k)
        src, dst = (others, np.full(k, hub)) if kind == "FAN-IN" else (np.full(k, hub), others)
        return src, dst, gaps(k), base * rng.uniform(0.3, 1, k)
    if kind == "CYCLE":
        k = int(rng.integers(2, 8))
        nodes = pick(k)
        return nodes, np.roll(nodes, -1), gaps(k), base * 0.97 ** np.arange(k)
    if kind in ("SCATTER-GATHER", "GATHER-SCATTER"):
        k = int(rng.integers(3, 9))
        a, b, mids = pick(1)[0], pick(1)[0], pick(k)
        if kind == "SCATTER-GATHER":
            s1, d1, s2, d2 = np.full(k, a), mids, mids, np.full(k, b)
        else:
            hub = pick(1)[0]
            s1, d1, s2, d2 = mids, np.full(k, hub), np.full(k, hub), pick(k)
        t1 = gaps(k)
        t2 = t1.max() + np.cumsum(rng.integers(5, 600, k))
        amt = base * rng.uniform(0.5, 1, k)
        return np.r_[s1, s2], np.r_[d1, d2], np.r_[t1, t2], np.r_[amt, amt * 0.95]
    if kind in ("BIPARTITE", "STACK"):
        layers = [pick(int(rng.integers(2, 5))) for _ in range(2 if kind == "BIPARTITE" else 3)]
        src, dst, t, amt = [], [], [], []
        clock = start
        for a, b in itertools.pairwise(layers):
            s, d = np.repeat(a, b.size), np.tile(b, a.size)
            clock = clock + np.cumsum(rng.integers(5, 300, s.size))
            src.append(s); dst.append(d); t.append(clock); amt.append(base * rng.uniform(0.3, 1, s.size))
            clock = int(clock.max())
        return tuple(np.concatenate(c) for c in (src, dst, t, amt))
    k = int(rng.integers(3, 9))  # RANDOM: a walk through fresh accounts
    nodes = pick(k + 1)
    return nodes[:-1], nodes[1:], gaps(k), base * 0.98 ** np.arange(k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--payments", type=int, default=400_000)
    ap.add_argument("--accounts", type=int, default=40_000)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--laundering", type=int, default=1_500, help="about this many")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    src, dst, t, amount, fmt = background(rng, a.payments, a.accounts, a.days)
    flows, lone_n = [], int(0.12 * a.laundering)
    total = 0
    while total < a.laundering - lone_n:
        kind = KINDS[int(rng.integers(0, len(KINDS)))]
        s, d, tt, amt = attempt(rng, kind, a.accounts, a.days)
        inside = tt < a.days * 1440
        if not inside.any():
            continue
        s, d, tt, amt = s[inside], d[inside], tt[inside], amt[inside]
        flows.append((kind, s, d, tt, np.round(amt, 2)))
        total += s.size
    lone = (rng.integers(0, a.accounts, lone_n), rng.integers(0, a.accounts, lone_n),
            rng.integers(0, a.days * 1440, lone_n), np.round(rng.lognormal(6.0, 1.5, lone_n), 2))
    ids = np.array([f"{x:09X}" for x in rng.choice(2**35, a.accounts, replace=False)])
    bank = rng.integers(1, 400, a.accounts)
    cur = rng.choice(CURRENCIES.size, a.accounts, p=CURRENCY_P)

    def frame(s, d, tt, amt, f, flag):
        c = cur[s]
        return pd.DataFrame({
            "Timestamp": pd.Timestamp("2022-09-01") + pd.to_timedelta(tt, unit="min"),
            "From Bank": [f"{b:03d}" for b in bank[s]], "Account": ids[s],
            "To Bank": [f"{b:03d}" for b in bank[d]], "Account.1": ids[d],
            "Amount Received": amt, "Receiving Currency": CURRENCIES[c], "Amount Paid": amt,
            "Payment Currency": CURRENCIES[c], "Payment Format": FORMATS[f],
            "Is Laundering": flag})

    laund_fmt = lambda n: rng.choice(FORMATS.size, n, p=[0.45, 0.1, 0.15, 0.1, 0.1, 0.0, 0.1])
    parts = [frame(src, dst, t, amount, fmt, 0)]
    blocks = []
    for kind, s, d, tt, amt in flows:
        f = frame(s, d, tt, amt, laund_fmt(s.size), 1)
        parts.append(f)
        blocks.append((kind, f))
    parts.append(frame(*lone, laund_fmt(lone_n), 1))
    trans = pd.concat(parts, ignore_index=True)
    trans = trans[trans["Account"] != trans["Account.1"]]
    trans = trans.sort_values("Timestamp", kind="stable")
    a.out.mkdir(parents=True, exist_ok=True)
    fmt_time = lambda df: df.assign(Timestamp=df["Timestamp"].dt.strftime("%Y/%m/%d %H:%M"))
    out = fmt_time(trans)
    out.columns = [c.replace("Account.1", "Account") for c in out.columns]
    out.to_csv(a.out / "HI-Like_Trans.csv", index=False)
    with open(a.out / "HI-Like_Patterns.txt", "w") as fh:
        for kind, f in blocks:
            f = fmt_time(f[f["Account"] != f["Account.1"]])
            fh.write(f"BEGIN LAUNDERING ATTEMPT - {kind}\n")
            fh.write(f.to_csv(index=False, header=False))
            fh.write(f"END LAUNDERING ATTEMPT - {kind}\n\n")
    print(f"wrote {a.out}: {len(trans):,} payments, {int(trans['Is Laundering'].sum()):,} "
          f"laundering ({len(blocks)} attempts, {lone_n} lone) in "
          f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
