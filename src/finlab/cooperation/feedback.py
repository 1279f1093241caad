"""What flows back and across: the FIU's investigation of STRs (which counterparties are known
facilitators, which reference words mark the flow), lists sent to banks after a delay and with
partial recall, pseudonymised identifiers, and offenders who react to being listed.

The investigation is the simulation's stand-in for an analyst's work, so it reads the truth, but
only about accounts the STRs lead to, and with the recall and label noise the experiment sets.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd

from finlab.rng import generator, hash_uniform, opaque_ids, stable_key
from finlab.schema import Dataset, Labels

FLOW = "ocse_payments"
FACILITATOR_ROLES = ("facilitator", "collector", "intermediary")
SENDER_ROLES = ("sender",)


def offenders(labels: Labels, per_case: bool = False) -> pd.DataFrame:
    """OCSE offenders: account_id, side ("sender" or "facilitator"), case_id; one row per
    account (its first case), or with `per_case` one per account and network it belongs to."""
    la = labels.accounts
    la = la[(la["typology"].astype(str) == FLOW) & la["case_id"].notna()]
    role = la["role"].astype(str)
    side = np.where(role.isin(FACILITATOR_ROLES), "facilitator",
                    np.where(role.isin(SENDER_ROLES), "sender", ""))
    out = pd.DataFrame({"account_id": la["account_id"].to_numpy(np.int64), "side": side,
                        "case_id": la["case_id"].to_numpy(np.int64)})
    out = out[out["side"] != ""]
    keys = ["account_id", "case_id"] if per_case else "account_id"
    return out.drop_duplicates(keys).reset_index(drop=True)


def suspicious_accounts(labels: Labels) -> pd.Index:
    """Accounts with a role in any suspicious case (what an STR can convert into)."""
    la = labels.accounts
    return pd.Index(la.loc[la["case_id"].notna(), "account_id"].unique())


def investigate(str_txns: pd.DataFrame, labels: Labels, *, recall: float, noise: float,
                seed: int, already: pd.Index) -> pd.Index:
    """Facilitators the FIU identifies among the counterparties of new STRs: each true one with
    probability `recall` (the same accounts at any recall, so a sweep is monotone), plus wrong
    entries making up a share `noise` of the list (counterparties that are no offenders)."""
    cands = pd.Index(np.unique(str_txns["counterparty"].to_numpy(np.int64))).difference(already)
    if cands.empty:
        return cands
    facs = offenders(labels)
    facs = pd.Index(facs.loc[facs["side"] == "facilitator", "account_id"])
    true = cands[cands.isin(facs)]
    found = true[hash_uniform(stable_key(seed, "recall"), true.to_numpy()) < recall]
    n_false = round(noise / (1 - noise) * found.size) if noise < 1 else cands.size
    if n_false:
        innocent = cands[~cands.isin(suspicious_accounts(labels))]
        order = np.argsort(hash_uniform(stable_key(seed, "noise"), innocent.to_numpy()),
                           kind="stable")
        found = found.append(innocent[order[:n_false]])
    return found


def keywords(references: pd.Series, suspicious: np.ndarray, n: int = 5,
             min_ratio: float = 3.0) -> list[str]:
    """Words of payment references at least `min_ratio` times more common in the confirmed
    suspicious STR transactions than in the others: the FIU's keyword list."""
    words = references.astype(str).str.lower().str.findall(r"[a-z]{3,}")
    frame = pd.DataFrame({"word": words, "bad": suspicious}).explode("word").dropna()
    if frame.empty or not frame["bad"].any():
        return []
    bad = frame.loc[frame["bad"], "word"].value_counts() / max(1, int(suspicious.sum()))
    good = frame.loc[~frame["bad"], "word"].value_counts() / max(1, int((~suspicious).sum()))
    ratio = bad / good.reindex(bad.index).fillna(0).clip(lower=1e-3)
    picked = ratio[(ratio >= min_ratio) & (bad >= 0.05)].sort_values(ascending=False)
    return sorted(picked.index[:n])


def pseudonymiser(key: str | None):
    """Identifiers as exchanged: raw ids, or keyed hashes (SipHash under `key`) when privacy is
    on; the receiver hashes its own ids with the shared key to match them."""
    if key is None:
        return lambda ids: np.asarray(ids, np.int64)
    hash_key = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()  # 16 characters

    def tokens(ids) -> np.ndarray:
        text = np.asarray(ids, np.int64).astype(str).astype(object)
        return pd.util.hash_array(text, hash_key=hash_key, categorize=False).view(np.int64)

    return tokens


def matches(ids: pd.Index, received: np.ndarray, tokens) -> np.ndarray:
    """Which of one's own `ids` a received list names (by raw id or by token)."""
    ids_arr = ids.to_numpy(np.int64)
    return np.isin(ids_arr, received) | np.isin(tokens(ids_arr), received)


def adapt(world: Dataset, listed: pd.Series, share: float, seed: int,
          done: set) -> tuple[Dataset, bool]:
    """Offenders react to lists: for each listed true facilitator (listed[id] = when the list
    reached banks), a share of its senders pay a new account in another destination country
    from then on (switching corridor). Returns the changed world and whether anything moved."""
    if share <= 0 or listed.empty:
        return world, False
    facs = offenders(world.labels)
    facs = facs[(facs["side"] == "facilitator") & facs["account_id"].isin(listed.index)
                & ~facs["account_id"].isin(list(done))]
    if facs.empty:
        return world, False
    tx, acc = world.transactions, world.accounts
    lt = world.labels.transactions
    bad = tx["txn_id"].isin(lt.loc[lt["is_suspicious"].astype(bool), "txn_id"]).to_numpy()
    rng = generator(seed, "adapt", len(done))
    new_ids = opaque_ids(rng, len(facs))
    countries = world.countries
    destinations = countries.loc[countries["risk"].astype(str) == "high", "country"].astype(str)
    info = acc.set_index("account_id").loc[facs["account_id"]]
    new_rows, moved = [], np.zeros(len(tx), bool)
    src_ids = tx["src_account"].to_numpy(np.int64)
    key = stable_key(seed, "adapt")
    for (fac, case), new_id, (_, row) in zip(facs[["account_id", "case_id"]].itertuples(
            index=False), new_ids, info.iterrows(), strict=True):  # one per listed facilitator
        other = destinations[destinations != str(row["country"])]
        country = other.iloc[int(hash_uniform(key, np.int64(fac)) * len(other))]
        banks = world.banks.loc[world.banks["country"].astype(str) == country, "bank_id"]
        bank = str(banks.iloc[int(hash_uniform(key, np.int64(fac) + 1) * len(banks))])
        rows = bad & (tx["dst_account"].to_numpy(np.int64) == fac) & (
            tx["ts"] >= listed[fac]).to_numpy()
        switch = hash_uniform(key, src_ids[rows], np.int64(fac)) < share
        idx = np.flatnonzero(rows)[switch]
        moved[idx] = True
        new_rows.append({"new": new_id, "bank": bank, "country": country, "idx": idx,
                         "party": row["party_id"], "since": listed[fac], "case": case})
        done.add(int(fac))
    if not moved.any():
        return world, False
    tx = tx.copy()
    for col in ("dst_bank", "dst_country"):
        tx[col] = tx[col].astype(str)
    add_acc, add_lab = [], []
    for r in new_rows:
        tx.iloc[r["idx"], tx.columns.get_loc("dst_account")] = r["new"]
        tx.iloc[r["idx"], tx.columns.get_loc("dst_bank")] = r["bank"]
        tx.iloc[r["idx"], tx.columns.get_loc("dst_country")] = r["country"]
        add_acc.append({"account_id": r["new"], "party_id": r["party"], "bank_id": r["bank"],
                        "country": r["country"], "currency": str(countries.set_index("country")
                                                                 .loc[r["country"], "currency"]),
                        "kind": "current", "opened_at": r["since"]})
        add_lab.append({"account_id": r["new"], "role": "facilitator", "typology": FLOW,
                        "case_id": r["case"]})
    accounts = pd.concat([acc, pd.DataFrame(add_acc)], ignore_index=True)
    labels = replace(world.labels, accounts=pd.concat(
        [world.labels.accounts, pd.DataFrame(add_lab)], ignore_index=True))
    return replace(world, transactions=tx, accounts=accounts, labels=labels), True
