"""`finlab audit`: label integrity, label shares, distributions, a leakage probe and look-alike overlap.

The leakage probe trains a classifier on artefacts that carry no behaviour (id values and ranks,
row positions, timestamp granularity, amount precision, missing values, which tables an account
appears in). If it separates suspicious from other accounts better than chance (ROC AUC above
0.55), the generator leaks labels and the audit fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from finlab.schema import Dataset
from finlab.truth import suspicious_accounts

LEAK_AUC_LIMIT = 0.55
#: the probe sees time in this many equal parts of the period
TIME_PARTS = 4


@dataclass
class AuditResult:
    problems: list[str] = field(default_factory=list)
    per_typology: pd.DataFrame | None = None
    per_role: pd.DataFrame | None = None
    shares: dict = field(default_factory=dict)
    leakage_auc: dict[str, float] = field(default_factory=dict)
    look_alike_overlap: pd.DataFrame | None = None
    plot: Path | None = None

    @property
    def passed(self) -> bool:
        return not self.problems


def check_labels(ds: Dataset, result: AuditResult) -> None:
    tx, lt = ds.transactions, ds.labels.transactions
    cases, la = ds.labels.cases, ds.labels.accounts
    missing = ~lt["txn_id"].isin(tx["txn_id"])
    if missing.any():
        result.problems.append(f"{int(missing.sum())} labelled transactions do not exist")
    if len(lt) != len(tx):
        result.problems.append(f"{len(tx)} transactions but {len(lt)} transaction labels")
    flagged = lt[lt["is_suspicious"].astype(bool)]
    if flagged["case_id"].isna().any():
        result.problems.append("suspicious transactions without a case")
    per_case = flagged.groupby("case_id").size()
    counted = cases.set_index("case_id")["n_transactions"]
    empty = counted.index[~counted.index.isin(per_case.index)]
    if len(empty):
        result.problems.append(f"{len(empty)} cases have no transactions (e.g. case {empty[0]})")
    mismatch = (per_case.reindex(counted.index, fill_value=0) != counted).sum()
    if mismatch:
        result.problems.append(f"{int(mismatch)} cases whose n_transactions differs from the labels")
    stray = ~la["account_id"].isin(ds.accounts["account_id"])
    if stray.any():
        result.problems.append(f"{int(stray.sum())} labelled accounts do not exist")
    orphan = la["case_id"].notna() & ~la["case_id"].isin(cases["case_id"])
    if orphan.any():
        result.problems.append(f"{int(orphan.sum())} account labels name an unknown case")

    typ = lt["typology"].astype("object").fillna("(ordinary)")
    t = pd.DataFrame({"transactions": typ.value_counts()})
    t["suspicious"] = lt.groupby(typ)["is_suspicious"].sum()
    t["cases"] = cases.groupby(cases["typology"].astype(str)).size()
    t["accounts"] = la.groupby(la["typology"].astype(str))["account_id"].nunique()
    result.per_typology = t.fillna(0).astype(int).sort_index()
    result.per_role = (la.groupby(la["role"].astype(str))["account_id"].nunique()
                       .rename("accounts").to_frame())
    result.shares = {
        "suspicious_transactions": float(lt["is_suspicious"].mean()) if len(lt) else 0.0,
        "suspicious_accounts": float(len(suspicious_accounts(ds.labels)) / max(len(ds.accounts), 1)),
    }


def account_artefacts(ds: Dataset) -> pd.DataFrame:
    """Per account, artefacts that should carry no behaviour: id values, row positions, missing
    values, which tables it appears in. (Nothing here depends on how active an account is.)"""
    acc = ds.accounts[["account_id", "party_id", "opened_at"]].copy()
    start = ds.transactions["ts"].min().floor("D") if len(ds.transactions) else None
    opened_day = ((acc["opened_at"] - start) / pd.Timedelta(days=1)).to_numpy() \
        if start is not None else np.zeros(len(acc))
    party_row = pd.Series(np.arange(len(ds.parties)), index=ds.parties["party_id"])
    nulls = ds.parties.set_index("party_id").isna().sum(axis=1)
    return pd.DataFrame({
        "account_id_value": acc["account_id"].astype(np.float64).to_numpy(),
        "account_row": np.arange(len(acc)),
        "party_id_value": acc["party_id"].astype(np.float64).to_numpy(),
        "party_row": party_row.reindex(acc["party_id"]).to_numpy(),
        "party_nulls": nulls.reindex(acc["party_id"]).to_numpy(),
        "in_parties": acc["party_id"].isin(ds.parties["party_id"]).astype(int).to_numpy(),
        "opened_second": acc["opened_at"].dt.second.to_numpy(),
        "account_nulls": ds.accounts.isna().sum(axis=1).to_numpy(),
        "opened_day": opened_day,  # time: when the account opened, against the period
    }, index=pd.Index(acc["account_id"].to_numpy(), name="account_id"))


def transaction_artefacts(ds: Dataset) -> pd.DataFrame:
    """Per transaction, artefacts that should carry no behaviour: id value, timestamp
    granularity (second of the minute), precision beyond cents, missing values, and time itself:
    row position and day of the period, in quarters of the period (`TIME_PARTS`). A suspicious
    share that drifts over the period makes time alone predict suspicion; at a finer step the
    probe would also find the weeks in which single cases happen to be busy, which is behaviour
    (a small world's dozen pattern cases each burst within a few days)."""
    tx = ds.transactions
    ts = tx["ts"]
    amount = tx["amount"].to_numpy()
    day = ((ts - ts.min().floor("D")) // pd.Timedelta(days=1)).to_numpy() if len(tx) else 0
    days = int(np.max(day, initial=0)) + 1
    return pd.DataFrame({
        "row_position": np.floor(np.arange(len(tx)) * TIME_PARTS / max(len(tx), 1)),
        "day_of_period": np.floor(np.asarray(day) * TIME_PARTS / days),
        "txn_id_value": tx["txn_id"].astype(np.float64).to_numpy(),
        "second_of_minute": ts.dt.second.to_numpy(),
        "microseconds": ts.dt.microsecond.to_numpy(),
        "beyond_cents": (np.abs(amount * 100 - np.round(amount * 100)) > 1e-6).astype(int),
        "missing_values": tx.isna().sum(axis=1).to_numpy(),
    }, index=pd.Index(tx["txn_id"].to_numpy(), name="txn_id"))


def _probe_auc(X: pd.DataFrame, y: np.ndarray, seed: int, max_negatives: int = 20_000) -> float:
    """Mean out-of-fold ROC AUC of a shallow boosted model over repeated stratified folds
    (repeats keep the estimate steady when there are few suspicious examples)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import RepeatedStratifiedKFold
    from threadpoolctl import threadpool_limits

    n_pos = int(y.sum())
    if n_pos < 10 or (len(y) - n_pos) < 10:
        return 0.5
    rng = np.random.default_rng(seed)
    neg = np.flatnonzero(y == 0)
    keep = np.r_[np.flatnonzero(y == 1), rng.choice(neg, size=min(neg.size, max_negatives),
                                                   replace=False)]
    X, y = X.iloc[keep].to_numpy(np.float64), y[keep]
    folds = RepeatedStratifiedKFold(n_splits=4, n_repeats=2, random_state=seed)
    aucs = []
    with threadpool_limits(1):  # small fits: threads only add contention
        for train, test in folds.split(X, y):
            model = HistGradientBoostingClassifier(
                max_iter=30, max_depth=3, min_samples_leaf=20, l2_regularization=1.0,
                random_state=seed, early_stopping=False)
            model.fit(X[train], y[train])
            aucs.append(roc_auc_score(y[test], model.predict_proba(X[test])[:, 1]))
    return float(np.mean(aucs))


def leakage_probe(ds: Dataset, seed: int = 0) -> dict[str, float]:
    """Cross-validated ROC AUC of classifiers that see only artefacts (0.5 = no leak), one for
    accounts (suspicious role or not) and one for transactions (suspicious or not)."""
    acc = account_artefacts(ds)
    y_acc = acc.index.isin(suspicious_accounts(ds.labels)).astype(int)
    tx = transaction_artefacts(ds)
    flagged = ds.labels.transactions.set_index("txn_id")["is_suspicious"]
    y_tx = flagged.reindex(tx.index).fillna(False).to_numpy(int)
    return {"accounts": _probe_auc(acc, y_acc, seed), "transactions": _probe_auc(tx, y_tx, seed)}


def simple_account_features(ds: Dataset) -> pd.DataFrame:
    """The per-account features an analyst tries first: outgoing amount, count, cross-border
    share and night share (22:00-06:00 in the payer's local time)."""
    tx = ds.transactions
    offset = ds.countries.set_index("country")["utc_offset"].astype(float)
    local_hour = (tx["ts"].dt.hour + offset.reindex(tx["src_country"].astype(str)).to_numpy()) % 24
    frame = pd.DataFrame({
        "account_id": tx["src_account"].to_numpy(),
        "amount": tx["amount_base"].to_numpy(),
        "cross_border": (tx["src_country"].astype(str).to_numpy()
                         != tx["dst_country"].astype(str).to_numpy()),
        "night": ((local_hour >= 22) | (local_hour < 6)).to_numpy(),
    })
    g = frame.groupby("account_id")
    return pd.DataFrame({
        "median_amount": g["amount"].median(),
        "payments": g.size(),
        "cross_border_share": g["cross_border"].mean(),
        "night_share": g["night"].mean(),
    })


def look_alike_overlap(ds: Dataset, suspicious_role="sender", typology="ocse_payments",
                       decoy="decoy:family_remittance") -> pd.DataFrame | None:
    """Quantiles of the simple features for suspicious senders and a look-alike class, and the
    single-feature ROC AUC between them (0.5 = indistinguishable, 1.0 = fully separated)."""
    from sklearn.metrics import roc_auc_score

    la = ds.labels.accounts
    a = la.loc[(la["role"] == suspicious_role) & (la["typology"] == typology), "account_id"].unique()
    b = la.loc[la["role"] == decoy, "account_id"].unique()
    if len(a) < 3 or len(b) < 3:
        return None
    feats = simple_account_features(ds)
    fa, fb = feats.reindex(a).dropna(), feats.reindex(b).dropna()
    rows = []
    for col in feats.columns:
        y = np.r_[np.ones(len(fa)), np.zeros(len(fb))]
        auc = roc_auc_score(y, np.r_[fa[col].to_numpy(), fb[col].to_numpy()])
        rows.append({
            "feature": col,
            f"{typology} p10/p50/p90": "/".join(f"{v:.3g}" for v in fa[col].quantile([.1, .5, .9])),
            f"{decoy} p10/p50/p90": "/".join(f"{v:.3g}" for v in fb[col].quantile([.1, .5, .9])),
            "auc": round(max(auc, 1 - auc), 3),
        })
    return pd.DataFrame(rows)


def plot_distributions(ds: Dataset, path: Path) -> Path:
    """Degree and amount distributions, suspicious against ordinary, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tx, lt = ds.transactions, ds.labels.transactions
    flag = lt.set_index("txn_id")["is_suspicious"].reindex(tx["txn_id"]).fillna(False).to_numpy(bool)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, side, title in ((axes[0], "src_account", "out-degree"), (axes[1], "dst_account", "in-degree")):
        deg = tx.groupby(side).size()
        bins = np.logspace(0, np.log10(max(deg.max(), 2)) + 0.1, 40)
        ax.hist(deg, bins=bins, log=True, color="#4c72b0")
        ax.set_xscale("log")
        ax.set_title(f"{title} per account")
        ax.set_xlabel("transactions")
    bins = np.logspace(-1, np.log10(max(tx["amount_base"].max(), 1)) + 0.1, 60)
    axes[2].hist(tx.loc[~flag, "amount_base"], bins=bins, density=True, alpha=0.6, label="ordinary")
    if flag.any():
        axes[2].hist(tx.loc[flag, "amount_base"], bins=bins, density=True, alpha=0.6,
                     label="suspicious")
    axes[2].set_xscale("log")
    axes[2].set_title("amount (base currency)")
    axes[2].legend()
    fig.tight_layout()
    path = plot_path(path)
    from finlab.io import atomic_file
    from finlab.outputs import STAMP

    try:
        with atomic_file(path) as tmp:
            # the stamp lets `--force` recognise the file as finlab's next time
            fig.savefig(tmp, dpi=90, format="png", metadata={"Software": STAMP})
    finally:
        plt.close(fig)
    return path


def plot_path(path: Path | str) -> Path:
    """Where the distributions PNG goes: `path`, with .png added when it has no extension."""
    from finlab.errors import InputError

    path = Path(path)
    if path.suffix == "":
        return path.with_name(path.name + ".png")
    if path.suffix.lower() != ".png":
        raise InputError(f"--plot {path}: the plot is a PNG file; use a name ending in .png")
    return path


def audit(ds: Dataset, *, plot: Path | None = None, seed: int = 0) -> AuditResult:
    """Run every audit check on a labelled dataset."""
    result = AuditResult()
    if ds.labels is None:
        result.problems.append("the dataset has no labels/ directory")
        return result
    result.problems.extend(ds.validate())
    check_labels(ds, result)
    result.leakage_auc = leakage_probe(ds, seed=seed)
    for level, auc in result.leakage_auc.items():
        if auc > LEAK_AUC_LIMIT:
            result.problems.append(
                f"leakage probe: artefacts separate suspicious {level} with ROC AUC "
                f"{auc:.3f} > {LEAK_AUC_LIMIT}")
    result.look_alike_overlap = look_alike_overlap(ds)
    if plot is not None:
        result.plot = plot_distributions(ds, plot)
    return result
