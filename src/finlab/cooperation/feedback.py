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
from finlab.truth import suspicious_accounts

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


def keywords(suspicious: pd.Series, baseline: pd.Series, n: int = 5, min_ratio: float = 5.0,
             min_share: float = 0.05) -> list[str]:
    """The FIU's keyword list: words carried by at least `min_share` of the confirmed OCSE
    payments behind its STRs (`suspicious` references) and at least `min_ratio` times more often
    than by the payments of its cross-border register (`baseline`)."""
    if suspicious.empty or baseline.empty:
        return []
    bad, base = word_shares(suspicious), word_shares(baseline)
    ratio = bad / base.reindex(bad.index).fillna(0).clip(lower=1 / len(baseline))
    picked = ratio[(ratio >= min_ratio) & (bad >= min_share)].sort_values(ascending=False)
    return sorted(picked.index[:n])


def word_shares(references: pd.Series) -> pd.Series:
    """Per word (lower case, three letters or more): the share of payments whose reference
    carries it; worked out once per distinct reference."""
    counts = references.astype(str).value_counts()
    words = pd.Series(counts.index.str.lower().str.findall(r"[a-z]{3,}").map(set).map(sorted),
                      index=counts.index)
    frame = pd.DataFrame({"word": words.to_numpy(), "n": counts.to_numpy()}).explode("word")
    return frame.dropna().groupby("word")["n"].sum() / len(references)


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
    unique, back = np.unique(ids.to_numpy(np.int64), return_inverse=True)
    return (np.isin(unique, received) | np.isin(tokens(unique), received))[back]


def adapt(world: Dataset, listed: pd.Series, share: float, seed: int,
          done: set) -> tuple[Dataset, list[int]]:
    """Offenders react to lists: for each listed true facilitator (listed[id] = when the list
    reached banks), a share of its senders pay a new account of the same person in another
    destination country from then on (switching corridor; the same country's other banks when
    there is no other). Returns the changed world and the facilitators whose senders moved.
    The new account's id and bank depend only on (seed, facilitator), so the same reaction gives
    the same world whatever happened before."""
    if share <= 0 or listed.empty:
        return world, []
    facs = offenders(world.labels)
    facs = facs[(facs["side"] == "facilitator") & facs["account_id"].isin(listed.index)
                & ~facs["account_id"].isin(list(done))]
    if facs.empty:
        return world, []
    tx, acc = world.transactions, world.accounts
    lt = world.labels.transactions
    bad = tx["txn_id"].isin(lt.loc[lt["is_suspicious"].astype(bool), "txn_id"]).to_numpy()
    dst_ids, src_ids = tx["dst_account"].to_numpy(np.int64), tx["src_account"].to_numpy(np.int64)
    # suspicious payments to these facilitators after their listing, found in one pass
    paid = np.flatnonzero(bad & np.isin(dst_ids, facs["account_id"].to_numpy(np.int64)))
    paid = paid[(tx["ts"].iloc[paid].reset_index(drop=True)
                 >= listed.reindex(dst_ids[paid]).reset_index(drop=True)).to_numpy()]
    key = stable_key(seed, "adapt")
    info = acc.set_index("account_id")
    moves, add_acc, add_lab = [], [], []
    for fac, case in facs[["account_id", "case_id"]].itertuples(index=False):  # per facilitator
        done.add(int(fac))
        target = _new_home(world, str(info.at[fac, "country"]), str(info.at[fac, "bank_id"]),
                           key, int(fac))
        if target is None:
            continue
        rows = paid[dst_ids[paid] == fac]
        rows = rows[hash_uniform(key, src_ids[rows], np.int64(fac)) < share]
        if rows.size == 0:
            continue
        new_id = int(opaque_ids(generator(seed, "adapt", int(fac)), 1)[0])
        country, bank, currency = target
        moves.append((rows, new_id, bank, country, int(fac)))
        add_acc.append({"account_id": new_id, "party_id": info.at[fac, "party_id"],
                        "bank_id": bank, "country": country, "currency": currency,
                        "kind": "current", "opened_at": listed[fac]})
        add_lab.append({"account_id": new_id, "role": "facilitator", "typology": FLOW,
                        "case_id": case})
    if not moves:
        return world, []
    tx = tx.copy()
    for col in ("dst_bank", "dst_country"):  # make room for the new values in the categories
        values = {bank if col == "dst_bank" else country for _, _, bank, country, _ in moves}
        if isinstance(tx[col].dtype, pd.CategoricalDtype):
            tx[col] = tx[col].cat.add_categories(sorted(values - set(tx[col].cat.categories)))
    for rows, new_id, bank, country, _ in moves:
        tx.iloc[rows, tx.columns.get_loc("dst_account")] = new_id
        tx.iloc[rows, tx.columns.get_loc("dst_bank")] = bank
        tx.iloc[rows, tx.columns.get_loc("dst_country")] = country
    accounts = pd.concat([acc, pd.DataFrame(add_acc)], ignore_index=True)
    labels = replace(world.labels, accounts=pd.concat(
        [world.labels.accounts, pd.DataFrame(add_lab)], ignore_index=True))
    return (replace(world, transactions=tx, accounts=accounts, labels=labels),
            [fac for *_, fac in moves])


def _new_home(world: Dataset, home: str, own_bank: str, key, fac: int
              ) -> tuple[str, str, str] | None:
    """Where a listed facilitator opens its new account: (country, bank, currency) in another
    high-risk country with banks, else another bank at home, else nowhere (None)."""
    banks = world.banks.assign(country=world.banks["country"].astype(str),
                               bank_id=world.banks["bank_id"].astype(str))
    countries = world.countries.assign(country=world.countries["country"].astype(str))
    high = set(countries.loc[countries["risk"].astype(str) == "high", "country"])
    options = banks[banks["country"].isin(high - {home})]
    if options.empty:
        options = banks[(banks["country"] == home) & (banks["bank_id"] != own_bank)]
    if options.empty:
        return None
    options = options.sort_values("bank_id")
    pick = options.iloc[int(hash_uniform(key, np.int64(fac)) * len(options))]
    currency = countries.set_index("country").at[pick["country"], "currency"]
    return pick["country"], pick["bank_id"], str(currency)
