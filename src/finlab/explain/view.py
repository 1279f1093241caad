"""Everything one explanation page shows, computed from a Source: the subgraph around the account
(or case), its payments in the window, its features against the population, and the chosen
detector's reasons through the detector's own `explain`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from finlab.errors import InputError
from finlab.explain.source import Source, population_mask, seconds
from finlab.explain.subgraph import MAX_NODES, Flows, Subgraph, select

MAX_HOPS = 3
DEFAULT_DAYS = 30


@dataclass
class View:
    """What a page shows (see `build_view`)."""

    title: str
    centres: pd.DataFrame  # the explained accounts: id, name, country, bank, kinds, role
    as_of: pd.Timestamp
    start: pd.Timestamp
    hops: int
    subgraph: Subgraph
    nodes: pd.DataFrame  # subgraph nodes with label, name, country, bank kind, role
    payments: pd.DataFrame
    features: pd.DataFrame | None  # feature, value, percentile (one account only)
    reasons: pd.DataFrame | None
    detector: str | None
    score: float | None
    score_percentile: float | None
    labelled: bool
    notes: list[str] = field(default_factory=list)
    highlight: list[int] = field(default_factory=list)  # nodes named by the detector


def role_of(labels) -> pd.Series:
    """One role per account: its role in a suspicious case if it has one, else its look-alike
    class."""
    try:
        from finlab.truth import account_roles  # the one place truth lives, when present
        return account_roles(labels)
    except ImportError:
        la = labels.accounts.assign(suspicious=labels.accounts["case_id"].notna())
        la = la.sort_values(["account_id", "suspicious"], ascending=[True, False], kind="stable")
        first = la.drop_duplicates("account_id").set_index("account_id")
        return first["role"].astype(str)


def parse_as_of(text, first: pd.Timestamp, last: pd.Timestamp) -> pd.Timestamp:
    """The cutoff a user asked for (a date or a time, UTC unless it says otherwise); it must lie
    within the data: after its first payment and no later than the day after its last."""
    end = last.floor("D") + pd.Timedelta(days=1)
    if text is None:
        return last.floor("s") + pd.Timedelta(seconds=1)
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise InputError(f"--as-of {text!r}: not a date; give e.g. 2025-03-01") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if not (first < ts <= end):
        raise InputError(f"--as-of {text}: outside the data, which runs from "
                         f"{first:%Y-%m-%d} to {last:%Y-%m-%d}")
    return ts


def check_request(hops: int, days: int | None, max_nodes: int) -> None:
    if isinstance(hops, bool) or not isinstance(hops, int | np.integer) or not 1 <= hops <= MAX_HOPS:
        raise InputError(f"--hops {hops}: allowed are 1 to {MAX_HOPS}")
    if days is not None and (isinstance(days, bool) or int(days) != days or days < 1):
        raise InputError(f"--days {days}: allowed are whole days >= 1")
    if max_nodes < 3:
        raise InputError(f"max_nodes {max_nodes}: at least 3 nodes")


def centres_of(source: Source, account, case) -> tuple[np.ndarray, str, pd.Series | None]:
    """Positions of the explained accounts, a title, and the case row (case mode)."""
    if (account is None) == (case is None):
        raise InputError("give exactly one of --account or --case")
    ids = pd.Index(source.account_ids)
    if account is not None:
        try:
            aid = int(account)
        except (TypeError, ValueError):
            raise InputError(f"--account {account!r}: not an account id (a whole number)") from None
        pos = ids.get_indexer([aid])
        if pos[0] < 0:
            raise InputError(f"--account {account}: no such account in {source.name} "
                             "(accounts.parquet)")
        return pos, f"account {aid}", None
    if source.labels is None:
        raise InputError(f"--case {case}: {source.name} has no labels; --case needs a labelled "
                         "dataset")
    cases = source.labels.cases
    try:
        cid = int(case)
    except (TypeError, ValueError):
        raise InputError(f"--case {case!r}: not a case id (a whole number)") from None
    row = cases[cases["case_id"] == cid]
    if row.empty:
        raise InputError(f"--case {case}: no such case in {source.name} (labels/cases.parquet has "
                         f"{len(cases)} cases)")
    la = source.labels.accounts
    members = la.loc[la["case_id"] == cid, "account_id"].unique()
    pos = ids.get_indexer(members)
    return np.unique(pos[pos >= 0]), f"case {cid} ({row['typology'].iloc[0]})", row.iloc[0]


def describe_accounts(source: Source, positions: np.ndarray, roles: pd.Series | None
                      ) -> pd.DataFrame:
    """Holder name, country, bank name and kind, account kind (and role) of accounts."""
    acc = source.accounts.iloc[positions]
    party = source.parties.set_index("party_id")
    bank = source.banks.set_index("bank_id")
    out = pd.DataFrame({
        "account_id": acc["account_id"].to_numpy(np.int64),
        "holder": party["name"].astype(str).reindex(acc["party_id"]).fillna("(unknown)").to_numpy(),
        "country": acc["country"].astype(str).to_numpy(),
        "bank": bank["name"].astype(str).reindex(acc["bank_id"].astype(str)).fillna("?").to_numpy(),
        "bank_kind": bank["kind"].astype(str).reindex(acc["bank_id"].astype(str))
        .fillna("?").to_numpy(),
        "account_kind": acc["kind"].astype(str).to_numpy(),
        "opened": acc["opened_at"].dt.strftime("%Y-%m-%d").to_numpy(),
    })
    if roles is not None:
        out["role"] = roles.reindex(out["account_id"]).fillna("ordinary").to_numpy()
    return out


BANK_KIND_SHORT = {"bank": "bank", "money_services": "remit", "payment_app": "app"}


def node_table(source: Source, sub: Subgraph, roles: pd.Series | None) -> pd.DataFrame:
    """The subgraph's nodes with their label text, holder, country, bank kind and role."""
    nodes = sub.nodes.set_index("node")
    single = nodes["account"].to_numpy() >= 0
    info = describe_accounts(source, nodes["account"].to_numpy()[single], roles)
    for col in info.columns:
        nodes.loc[single, col] = info[col].to_numpy()
    labels = []
    for _, row in nodes.iterrows():
        if row["kind"] in ("centre", "account"):
            name = str(row["holder"])
            name = name if len(name) <= 18 else name[:17] + "…"
            labels.append(f"{name}\n…{str(int(row['account_id']))[-6:]} · {row['country']} · "
                          f"{BANK_KIND_SHORT.get(row['bank_kind'], row['bank_kind'])}")
        elif row["kind"] == "folded":
            labels.append(f"{row['members']} × {row['group']}\n(heavy, hop {row['hop']})")
        else:
            labels.append(f"{row['members']} more accounts\naround the {row['group']} "
                          f"(hop {row['hop']})")
    nodes["label"] = labels
    if roles is None:
        nodes["role"] = ""
    return nodes


def payments_table(source: Source, tx: pd.DataFrame, centres: np.ndarray, case: bool
                   ) -> pd.DataFrame:
    """The explained account's payments (a case's payments among its accounts), newest last."""
    ids = source.account_ids[centres]
    src_in, dst_in = tx["src_account"].isin(ids), tx["dst_account"].isin(ids)
    rows = tx[(src_in & dst_in) if case else (src_in | dst_in)]
    offset = source.countries.assign(country=source.countries["country"].astype(str)) \
        .set_index("country")["utc_offset"].astype(float)
    payer_offset = offset.reindex(rows["src_country"].astype(str)).fillna(0).to_numpy()
    local = rows["ts"] + pd.to_timedelta(payer_offset, unit="h")
    outgoing = rows["src_account"].isin(ids).to_numpy() & ~case
    other = np.where(outgoing, rows["dst_account"], rows["src_account"])
    other_country = np.where(outgoing, rows["dst_country"].astype(str),
                             rows["src_country"].astype(str))
    holder = _holders(source, other)
    frame = pd.DataFrame({
        "time (UTC)": rows["ts"].dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
        "local time (payer)": [f"{t:%Y-%m-%d %H:%M} (UTC{o:+g})"
                               for t, o in zip(local, payer_offset, strict=True)],
    })
    if case:
        frame["payer"] = _holders(source, rows["src_account"].to_numpy()) + " · " + \
            rows["src_account"].astype(str).to_numpy()
        frame["payee"] = _holders(source, rows["dst_account"].to_numpy()) + " · " + \
            rows["dst_account"].astype(str).to_numpy()
        frame["countries"] = (rows["src_country"].astype(str) + " → "
                              + rows["dst_country"].astype(str)).to_numpy()
    else:
        frame["direction"] = np.where(outgoing, "out", "in")
        frame["counterparty"] = holder + " · " + other.astype(str)
        frame["country"] = other_country
    frame["channel"] = rows["channel"].astype(str).to_numpy()
    frame["amount"] = [f"{a:,.2f} {c}" for a, c in
                       zip(rows["amount"], rows["currency"].astype(str), strict=True)]
    frame["amount (base)"] = rows["amount_base"].round(2).to_numpy()
    frame["reference"] = rows["reference"].astype(str).to_numpy()
    return frame


def _holders(source: Source, account_ids: np.ndarray) -> np.ndarray:
    party = source.accounts.set_index("account_id")["party_id"].reindex(account_ids)
    names = source.parties.set_index("party_id")["name"].astype(str).reindex(party)
    return names.fillna("(unknown)").to_numpy().astype(object)


def percentiles(frame: pd.DataFrame, population: pd.Index, account: int) -> pd.DataFrame:
    """Each feature of `account` with its percentile among the population (ties count half)."""
    pop = frame.reindex(population).to_numpy(np.float64)
    value = frame.loc[account].to_numpy(np.float64)
    below = (pop < value).sum(axis=0)
    equal = (pop == value).sum(axis=0)
    pct = 100.0 * (below + 0.5 * equal) / max(pop.shape[0], 1)
    out = pd.DataFrame({"feature": frame.columns, "value": value, "percentile": pct})
    unusual = np.abs(out["percentile"] - 50)
    return out.iloc[np.lexsort((out.index, -unusual.to_numpy()))].reset_index(drop=True)


def named_accounts(reasons: pd.DataFrame, source: Source) -> np.ndarray:
    """Account positions a detector's reason texts name (a graph detector's subgraph)."""
    found = set()
    for text in reasons["reason"].astype(str):
        found.update(int(x) for x in re.findall(r"\b\d{6,}\b", text))
    pos = pd.Index(source.account_ids).get_indexer(sorted(found))
    return pos[pos >= 0]


def picture(source: Source, window_tx: pd.DataFrame, centres: np.ndarray, hops: int,
            max_nodes: int, roles: pd.Series | None) -> tuple[Subgraph, pd.DataFrame]:
    """The subgraph around `centres` in the window's payments, and its node table."""
    ids = pd.Index(source.account_ids)
    flows = Flows(ids.get_indexer(window_tx["src_account"].to_numpy(np.int64)),
                  ids.get_indexer(window_tx["dst_account"].to_numpy(np.int64)),
                  seconds(window_tx["ts"]), window_tx["amount_base"].to_numpy(np.float64),
                  ids.size)
    sector, names = source.sectors()
    sub = select(flows, centres, hops, business=source.business(), sector=sector,
                 sector_names=names, max_nodes=max_nodes)
    return sub, node_table(source, sub, roles)


def feature_windows(det) -> tuple[int, ...]:
    """The windows the detector reads its features over, so that the page's features and the
    detector's are computed once (the default windows for detectors without features)."""
    from finlab.features import DEFAULT_WINDOWS

    if det is not None and hasattr(det, "rule_sets"):
        return tuple(sorted({w for rs in det.rule_sets() for w in rs.spec.windows}))
    windows = getattr(getattr(det, "params", None), "windows", None)
    return tuple(windows) if windows else DEFAULT_WINDOWS


def build_view(source: Source, account=None, *, case=None, hops: int = 2,
               days: int | None = None, as_of=None, detector: str | None = "rules",
               params: dict | None = None, max_nodes: int = MAX_NODES) -> View:
    """Compute everything a page shows; bad input raises InputError before any work."""
    check_request(hops, days, max_nodes)
    centres, title, case_row = centres_of(source, account, case)
    det = None
    if detector is not None:
        from finlab.detectors import make_detector

        det = make_detector(detector, params or {})
    first, last = source.span()
    if as_of is None and case_row is not None:
        as_of = min(case_row["last_ts"].floor("s") + pd.Timedelta(seconds=1),
                    last.floor("s") + pd.Timedelta(seconds=1))
        cutoff = as_of
    else:
        cutoff = parse_as_of(as_of, first, last)
    if days is None:
        days = DEFAULT_DAYS
        if case_row is not None:
            days = max(1, int(np.ceil((cutoff - case_row["first_ts"]).total_seconds() / 86_400)))
    start = cutoff - pd.Timedelta(days=days)
    as_of_s, start_s = int(cutoff.timestamp()), int(start.timestamp())

    t = source.keys()[0]
    in_window = (t >= start_s) & (t < as_of_s)
    wanted, population = population_mask(source, as_of_s, centres)
    graph_family = det is not None and det.family == "graph"
    tx = source.take(in_window | wanted)
    notes = []
    pop_tx = tx[wanted[in_window | wanted]]
    active = pd.Index(pd.unique(np.r_[pop_tx["src_account"].to_numpy(np.int64),
                                      pop_tx["dst_account"].to_numpy(np.int64)]))
    population_ids = active if population is None else active.intersection(population)
    if population is not None:
        notes.append(f"Population: the features and scores of a seeded random sample of "
                     f"{len(population_ids):,} active accounts; the explained accounts' features use "
                     "their whole history, except the graph features (PageRank, cycles), which "
                     "see only the sample's payments.")
    tx_t = t[in_window | wanted]
    window_rows = (tx_t >= start_s) & (tx_t < as_of_s)
    roles = role_of(source.labels) if source.labels is not None else None
    sub, nodes = picture(source, tx[window_rows], centres, hops, max_nodes, roles)
    window_tx = tx[window_rows]
    payments = payments_table(source, window_tx, centres, case_row is not None)

    # fitting may learn from labels (a watchlist, a model); scoring and features never see them
    pop_ds = source.dataset_of(pop_tx, cutoff, labels=det is not None)
    features = reasons = score = score_pct = None
    one = int(source.account_ids[centres[0]])
    if case_row is None:
        from finlab.detectors.base import features_for

        frame = features_for(pop_ds.without_labels(), feature_windows(det))
        features = percentiles(frame, population_ids, one)
    highlight = []
    if det is not None:
        det_ds = source.dataset_of(tx, cutoff) if graph_family else pop_ds
        det.fit(pop_ds, pop_ds.labels)
        visible = det_ds.without_labels()
        scores = det.account_scores(visible)
        explained_ids = source.account_ids[centres]
        reasons = det.explain_accounts(visible, explained_ids)
        if case_row is None:
            score = float(scores.get(one, np.nan))
            base = scores.reindex(population_ids).dropna().to_numpy()
            score_pct = float(100.0 * ((base < score).sum() + 0.5 * (base == score).sum())
                              / max(base.size, 1))
        if det.supervised:
            notes.append(f"{det.name} learns from labels: it was fitted on the same data it "
                         "explains (in-sample), as `finlab detect` does without --train.")
        named = named_accounts(reasons, source)
        highlight = sorted({int(n) for n in sub.node_of[named] if n >= 0}
                           - set(range(centres.size)))
    return View(title=title, centres=describe_accounts(source, centres, roles), as_of=cutoff,
                start=start, hops=hops, subgraph=sub, nodes=nodes, payments=payments,
                features=features, reasons=reasons, detector=det.name if det else None,
                score=score, score_percentile=score_pct, labelled=roles is not None,
                notes=notes, highlight=highlight)
