"""The cooperation time line: at every checkpoint each bank scores its customers on its own view,
its analysts file STRs on the top of the queue (as many as their review capacity allows), and,
depending on the level, the FIUs investigate, analyse and send lists back.

Levels: L0 siloed banks; L1 adds FIU feedback (known facilitators and keywords from the STRs,
after a delay, with partial recall); L2 adds the national FIU's analysis of pooled STRs and the
cross-border register around them, disseminated to its banks; L3 lets the FIUs of all countries
analyse and exchange together (destination inbound views included); L4 keeps the lists (shared
across borders, as at L3) and scores every bank's customers on the pooled data of all
participating banks, with no FIU leads. Every level has the same detectors
and the same review capacity: an account counts as detected when a bank files an STR on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import Field

from finlab.cooperation import feedback as fb
from finlab.cooperation.str_flow import file_strs, no_strs, normalise, str_transactions
from finlab.cooperation.views import (
    bank_view,
    customers,
    fiu_view,
    pooled_view,
    register_rows,
)
from finlab.features.ledger import keyword_hits
from finlab.registry import StrictModel
from finlab.rng import hash_uniform, stable_key
from finlab.schema import Dataset

LEVELS = ("L0", "L1", "L2", "L3", "L4")
LEVEL_NAMES = {"L0": "siloed bank", "L1": "bank with feedback", "L2": "national FIU",
               "L3": "cross-border FIUs", "L4": "pooled"}
LIST_BOOST, DISSEMINATION_BOOST, KEYWORD_BOOST = 1.0, 1.0, 0.5


class FeedbackSettings(StrictModel):
    delay_days: float = Field(30.0, ge=0, description="days from STR to the list reaching banks")
    recall: float = Field(0.7, ge=0, le=1, description="share of true facilitators the FIU "
                          "identifies among STR counterparties")
    keywords: bool = Field(True, description="also send reference keywords of confirmed STRs")


class FiuSettings(StrictModel):
    cross_border_register: bool = Field(True, description="FIUs hold a register of "
                                        "cross-border transfers")
    analysis_days: float = Field(7.0, ge=0, description="days the FIU takes to analyse STRs")
    exchange_days: float = Field(14.0, ge=0, description="extra days for cross-border exchange")
    capacity: int = Field(5, ge=0, description="accounts each FIU's analysts send to banks "
                          "per filing, found around its STRs")


class Settings(StrictModel):
    """How the parties work; every field can be swept in an experiment file."""

    period_days: int = Field(15, ge=1, description="days between STR filings")
    warmup_fraction: float = Field(0.5, gt=0, lt=1, description="share of the data's days "
                                   "before the first filing (history every party starts with)")
    review_capacity: int = Field(2, ge=0, description="STRs each bank files per period")
    banks_taking_part: float = Field(1.0, gt=0, le=1, description="share of banks that share "
                                     "data and receive feedback (the others stay siloed)")
    str_lookback_days: float = Field(30.0, gt=0, description="days of payments an STR carries")
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    fiu: FiuSettings = Field(default_factory=FiuSettings)
    label_noise: float = Field(0.0, ge=0, lt=1, description="share of wrong entries on lists")
    adaptation: float = Field(0.0, ge=0, le=1, description="share of senders who switch to a "
                              "new facilitator account in another corridor once listed")
    privacy: bool = Field(False, description="exchange keyed hashes instead of account ids")
    privacy_key: str = Field("finlab-shared-key", min_length=1)


@dataclass
class LevelRun:
    """What one level produced: STRs, lists, the final queues, what each party saw."""

    level: str
    strs: pd.DataFrame
    listed: pd.DataFrame  # account_id (true id), arrives_at: facilitators named on lists
    queue: pd.Series  # final checkpoint, every bank's customers
    world: Dataset  # the world as it ended (offenders may have adapted)
    new_accounts: list  # accounts offenders opened once listed (adaptation), judged apart
    seen: dict
    seconds: float


@dataclass
class _State:
    strs: list = field(default_factory=list)
    str_txns: list = field(default_factory=list)  # frames: txn_id, country (of the STR)
    lists: list = field(default_factory=list)  # frames: token, true_id, audience, arrives_at
    dissem: list = field(default_factory=list)  # frames: token, bank_id, arrives_at
    words: list = field(default_factory=list)  # frames: word, audience, arrives_at
    version: int = 0  # 0 for the generated world; a new key whenever offenders change it
    new_accounts: list = field(default_factory=list)  # accounts offenders opened after listing

    _frames: dict = field(default_factory=dict)

    def frame(self, name: str, columns) -> pd.DataFrame:
        """All parts of one exchange so far as one frame (parts are only ever appended, so the
        frame is rebuilt only when one was)."""
        parts = getattr(self, name)
        if not parts:
            return pd.DataFrame(columns=columns)
        count, whole = self._frames.get(name, (0, None))
        if count != len(parts):
            whole = pd.concat(parts, ignore_index=True)
            self._frames[name] = (len(parts), whole)
        return whole


class Simulation:
    """One world, one detector: runs levels under settings, caching what does not change between
    them (a bank's scores on its own view are the same at every level while the world is)."""

    def __init__(self, world: Dataset, detector_name: str, params: dict, seed: int,
                 progress: Callable[[str], None] = lambda msg: None):
        if world.labels is None:
            from finlab.errors import InputError

            raise InputError("finlab cooperate needs a labelled dataset (labels/ directory): "
                             "the FIU's investigation and the scoring read the truth")
        self.world, self.seed, self.progress = world, seed, progress
        self.detector_name, self.params = detector_name, params
        self.banks = world.banks.assign(bank_id=world.banks["bank_id"].astype(str),
                                        country=world.banks["country"].astype(str))
        self._cache: dict = {}

    def warmup_end(self, s: Settings) -> pd.Timestamp:
        """When the filings window opens (one period before the first filing)."""
        return self.checkpoints(s)[0] - pd.Timedelta(days=s.period_days)

    def checkpoints(self, s: Settings) -> list[pd.Timestamp]:
        ts = self.world.transactions["ts"]
        start, end = ts.min().floor("D"), ts.max().floor("D") + pd.Timedelta(days=1)
        days = (end - start).days
        first = start + pd.Timedelta(days=max(1, round(days * s.warmup_fraction)))
        step = pd.Timedelta(days=s.period_days)
        out, c = [], first + step
        while c <= end:
            out.append(c)
            c += step
        if not out:
            from finlab.errors import InputError

            raise InputError(f"cooperation: period_days {s.period_days} leaves no filing inside "
                             f"the {(end - first).days} days after the warm-up; use a shorter "
                             "period or a smaller warmup_fraction")
        return out

    def members(self, s: Settings) -> set[str]:
        """The banks that take part in sharing: the same banks at every level, nested as the
        share grows."""
        ids = self.banks["bank_id"].to_numpy(str)
        order = np.argsort(hash_uniform(stable_key(self.seed, "members"),
                                        np.arange(ids.size)), kind="stable")
        n = max(1, int(np.ceil(s.banks_taking_part * ids.size)))
        return set(ids[np.sort(order[:n])])

    # ---- scoring ------------------------------------------------------------------------------

    def _score(self, view: Dataset) -> pd.Series:
        from finlab.detectors import make_detector

        det = make_detector(self.detector_name, self.params)
        det.fit(view, view.labels)
        return det.account_scores(view)

    def _cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def bank_scores(self, world, version, bank: str, c: pd.Timestamp) -> pd.Series:
        """A bank's scores on its own view; the same at every level while the world is (the
        detectors a cooperation run accepts learn nothing from flags)."""
        return self._cached(("bank", version, bank, c),
                            lambda: self._score(bank_view(world, bank, c)))

    def pooled_scores(self, world, version, members, c, tokens, s: Settings) -> pd.Series:
        key = ("pooled", version, tuple(sorted(members)), c, s.privacy and s.privacy_key)
        return self._cached(key, lambda: self._score(pooled_view(
            world, members, c, tokens=tokens if s.privacy else None)))

    def customers(self, world, version, bank: str) -> pd.Index:
        return self._cached(("customers", version, bank), lambda: customers(world, bank))

    # ---- one level ----------------------------------------------------------------------------

    def run(self, level: str, s: Settings) -> LevelRun:
        start = time.perf_counter()
        n = LEVELS.index(level)
        world, adapted = self.world, set()
        tokens = fb.pseudonymiser(s.privacy_key if s.privacy else None)
        members = self.members(s)
        banks = self.banks
        state = _State()
        checkpoints = self.checkpoints(s)
        queue_final = pd.Series(dtype=np.float64)
        seen = {"bank": {}, "fiu": {}, "privacy": s.privacy}
        for k, c in enumerate(checkpoints):
            self.progress(f"{self.detector_name} {level}: filing {k + 1}/{len(checkpoints)} "
                          f"({c.date()})")
            if n >= 1 and s.adaptation > 0:
                listed = state.frame("lists", ["true_id", "arrives_at"])
                arrived = listed[listed["arrives_at"] <= c].groupby("true_id")["arrives_at"].min()
                world, moved = fb.adapt(world, arrived, s.adaptation, self.seed, adapted)
                if moved:  # the world's identity: which facilitators lost senders, from when
                    state.version = hash((state.version, s.adaptation, tuple(sorted(
                        (f, str(arrived[f])) for f in moved))))
                    state.new_accounts += [a for a in world.accounts["account_id"].iloc[
                        -len(moved):].tolist()]
            reported = pd.Index(pd.concat(state.strs)["account_id"]) if state.strs else \
                pd.Index([], dtype=np.int64)
            filed, queues = [], []
            for bank, country in banks[["bank_id", "country"]].itertuples(index=False):
                member = bank in members
                mine = self.customers(world, state.version, bank)
                if member and n == 4:
                    pooled = self.pooled_scores(world, state.version, members, c, tokens, s)
                    base = _mine(pooled, mine, tokens, s.privacy)
                else:
                    base = self.bank_scores(world, state.version, bank, c)
                    base = base.reindex(mine).fillna(base.min() if len(base) else 0.0)
                queue = normalise(base)
                if member and n >= 1:
                    queue = queue + self._boosts(world, state, bank, country, mine, c, tokens)
                queues.append(queue)
                filed.append(file_strs(queue, s.review_capacity, reported, bank_id=bank,
                                       country=country, filed_at=c))
                if k == len(checkpoints) - 1:
                    touching = self._touching(world, state.version, bank, mine)
                    seen["bank"][bank] = {"transactions": int((touching["ts"] < c).sum()),
                                          "customers": len(mine)}
            new = pd.concat(filed, ignore_index=True) if filed else no_strs()
            state.strs.append(new)
            queue_final = pd.concat(queues)
            if n >= 1:
                self._investigate(world, state, new, c, s, n, members, tokens)
            if n in (2, 3):
                self._analyse(world, state, c, s, n, members, tokens, seen,
                              last=k == len(checkpoints) - 1)
        strs = pd.concat(state.strs, ignore_index=True) if state.strs else no_strs()
        filed_by = strs["bank_id"].value_counts()
        for bank, view in seen["bank"].items():
            view["strs_filed"] = int(filed_by.get(bank, 0))
        lists = state.frame("lists", ["true_id", "arrives_at"])
        listed = lists.groupby("true_id")["arrives_at"].min().rename_axis("account_id") \
            .reset_index() if len(lists) else pd.DataFrame(columns=["account_id", "arrives_at"])
        seen["lists_sent"] = len(lists)
        seen["disseminated"] = int(sum(len(d) for d in state.dissem))
        seen["keywords"] = sorted(set(state.frame("words", ["word"])["word"])) if state.words \
            else []
        return LevelRun(level, strs, listed, queue_final, world, state.new_accounts, seen,
                        time.perf_counter() - start)

    def _touching(self, world, version: int, bank: str, mine: pd.Index) -> pd.DataFrame:
        """The transactions of a bank's customers (its view), kept while the world is unchanged."""
        def compute():
            tx = world.transactions
            return tx[tx["src_account"].isin(mine) | tx["dst_account"].isin(mine)]

        return self._cached(("touching", version, bank), compute)

    def _boosts(self, world, state: _State, bank, country, mine: pd.Index, c, tokens):
        """Queue boosts from cooperation: customers on a list, or that paid or were paid by a listed
        account; customers an FIU disseminated; customers whose cross-border references carry
        listed keywords."""
        boost = pd.Series(0.0, index=mine)
        lists = state.frame("lists", ["token", "audience", "arrives_at"])
        lists = lists[(lists["arrives_at"] <= c) & lists["audience"].isin([country, "*"])]
        touching = self._touching(world, state.version, bank, mine)
        touching = touching[(touching["ts"] < c).to_numpy()]
        if len(lists):
            received = lists["token"].to_numpy(np.int64)
            src_mine = touching["src_account"].isin(mine).to_numpy()
            own = np.where(src_mine, touching["src_account"], touching["dst_account"])
            other = pd.Index(np.where(src_mine, touching["dst_account"], touching["src_account"]))
            hit = fb.matches(other, received, tokens)
            paying = pd.Index(np.unique(own[hit]))
            listed_self = mine[fb.matches(mine, received, tokens)]
            boost[boost.index.isin(paying.union(listed_self))] += LIST_BOOST
        dis = state.frame("dissem", ["token", "bank_id", "arrives_at"])
        dis = dis[(dis["arrives_at"] <= c) & (dis["bank_id"] == bank)]
        if len(dis):
            boost[fb.matches(mine, dis["token"].to_numpy(np.int64), tokens)] += DISSEMINATION_BOOST
        words = state.frame("words", ["word", "audience", "arrives_at"])
        words = words[(words["arrives_at"] <= c) & words["audience"].isin([country, "*"])]
        if len(words):
            out = touching[touching["src_account"].isin(mine)
                           & (touching["src_country"].astype(str)
                              != touching["dst_country"].astype(str))]
            hit = keyword_hits(out["reference"], tuple(sorted(set(words["word"]))))
            boost[boost.index.isin(out.loc[hit, "src_account"].unique())] += KEYWORD_BOOST
        return boost

    def _investigate(self, world, state: _State, new: pd.DataFrame, c, s: Settings, n: int,
                     members, tokens) -> None:
        """Each FIU investigates the new STRs of its participating banks and lists facilitators
        (and keywords) for its banks; from L3 on, lists also go to every other FIU's banks."""
        new = new[new["bank_id"].isin(members)]
        txns = str_transactions(world, new, s.str_lookback_days)
        if txns.empty:
            return
        country_of = new.set_index("account_id")["country"]
        txns = txns.assign(country=country_of.reindex(txns["account_id"]).to_numpy())
        state.str_txns.append(txns[["txn_id", "country"]].drop_duplicates())
        arrive = c + pd.Timedelta(days=s.feedback.delay_days)
        shared = arrive + pd.Timedelta(days=s.fiu.exchange_days)
        lists = state.frame("lists", ["true_id", "audience"])
        for country, part in txns.groupby("country"):
            sent = lists.loc[lists["audience"].isin([country, "*"]), "true_id"]
            found = fb.investigate(part, world.labels, recall=s.feedback.recall,
                                   noise=s.label_noise, seed=self.seed,
                                   already=pd.Index(sent.to_numpy(np.int64)))
            ids = found.to_numpy(np.int64)
            words = self._keywords(world, part, country, c) if s.feedback.keywords else []
            for audience, when in ([(country, arrive)] + ([("*", shared)] if n >= 3 else [])):
                if ids.size:
                    state.lists.append(pd.DataFrame({"token": tokens(ids), "true_id": ids,
                                                     "audience": audience, "arrives_at": when}))
                if words:
                    state.words.append(pd.DataFrame({"word": words, "audience": audience,
                                                     "arrives_at": when}))

    def _keywords(self, world, txns: pd.DataFrame, country: str, c) -> list[str]:
        """Words of the confirmed OCSE payments behind a country's STRs against its register."""
        if not hasattr(self, "_flow_txns"):
            lt = self.world.labels.transactions
            self._flow_txns = pd.Index(lt.loc[lt["is_suspicious"].astype(bool) & (
                lt["typology"].astype(str) == fb.FLOW), "txn_id"])
        tx = world.transactions
        behind = tx[tx["txn_id"].isin(pd.Index(txns["txn_id"]).intersection(self._flow_txns))]
        register = register_rows(world, [country]) & (tx["ts"] < c).to_numpy()
        return fb.keywords(behind["reference"], tx.loc[register, "reference"])

    def _analyse(self, world, state: _State, c, s: Settings, n: int, members, tokens, seen,
                 last: bool) -> None:
        """FIU analysis: the same detector on the FIU's view (STRs plus register), read only
        for the network around its STRs (accounts sharing a counterparty with an STR subject, such
        as other senders of the same facilitator); its top `fiu.capacity` accounts go to the banks
        holding them. L2: each country's FIU, domestic accounts only; L3: all FIUs together."""
        from finlab.evaluate.metrics import top_k

        strs = pd.concat(state.strs, ignore_index=True)
        at = c + pd.Timedelta(days=s.fiu.analysis_days)
        countries = sorted(self.banks["country"].unique())
        groups = [[x] for x in countries] if n == 2 else [countries]
        holders = world.accounts.assign(bank_id=world.accounts["bank_id"].astype(str),
                                        country=world.accounts["country"].astype(str))
        holders = holders[holders["bank_id"].isin(members)]
        reported = pd.Index(strs["account_id"])
        strs = strs[strs["bank_id"].isin(members)]  # what reached the FIUs
        sent = state.frame("dissem", ["token"])["token"].to_numpy(np.int64)
        behind = state.frame("str_txns", ["txn_id", "country"])
        for group in groups:
            mine = strs[strs["country"].isin(group)]
            if mine.empty:
                continue
            # the analysts of the FIUs that received STRs, the same at L2 and L3
            capacity = s.fiu.capacity * mine["country"].nunique()
            view = fiu_view(world, group, strs, pd.Index(behind.loc[behind["country"].isin(
                group), "txn_id"]), at, register=s.fiu.cross_border_register,
                tokens=tokens if s.privacy else None)
            if last:
                seen["fiu"]["+".join(group)] = _seen_view(view, strs, group, s.privacy)
            linked = around(view, pd.Index(mine["account_id"]))
            if linked.empty:
                continue
            scores = self._score(view).reindex(linked).dropna()
            cand = holders[holders["country"].isin(group)] if n == 2 else holders
            cand = cand[~cand["account_id"].isin(reported)]
            ids = cand["account_id"].to_numpy(np.int64)
            key = np.where(np.isin(ids, view.accounts["account_id"].to_numpy(np.int64)), ids,
                           tokens(ids) if s.privacy else ids)
            cs = pd.Series(scores.reindex(key).to_numpy(), index=ids).dropna()
            cs = cs[~np.isin(tokens(cs.index.to_numpy(np.int64)), sent)]
            top = top_k(normalise(cs)[lambda x: x > 0], capacity)
            if top.empty:
                continue
            top = top.to_numpy(np.int64)
            delay = pd.Timedelta(days=s.fiu.exchange_days if n == 3 else 0)
            state.dissem.append(pd.DataFrame({
                "token": tokens(top), "arrives_at": at + delay,
                "bank_id": cand.set_index("account_id")["bank_id"].reindex(top).to_numpy()}))


def around(view: Dataset, subjects: pd.Index) -> pd.Index:
    """Accounts sharing a counterparty with one of `subjects` in `view`, and those
    counterparties themselves (the subjects left out): the network an FIU reads."""
    tx = view.transactions
    src, dst = tx["src_account"].to_numpy(np.int64), tx["dst_account"].to_numpy(np.int64)
    subj = subjects.to_numpy(np.int64)
    hop1 = np.unique(np.r_[dst[np.isin(src, subj)], src[np.isin(dst, subj)]])
    hop2 = np.unique(np.r_[dst[np.isin(src, hop1)], src[np.isin(dst, hop1)]])
    return pd.Index(np.union1d(hop1, hop2)).difference(subjects)


def _mine(pooled: pd.Series, mine: pd.Index, tokens, privacy: bool) -> pd.Series:
    """A bank's customers' scores from the pool (looked up by token when the pool is hashed)."""
    ids = mine.to_numpy(np.int64)
    key = tokens(ids) if privacy else ids
    s = pd.Series(pooled.reindex(key).to_numpy(), index=mine)
    return s.fillna(pooled.min() if len(pooled) else 0.0)


def _seen_view(view: Dataset, strs: pd.DataFrame, group, privacy: bool) -> dict:
    """How much an FIU saw: transactions, its STR subjects (named), and the other accounts
    (under keyed hashes when privacy is on)."""
    mine = strs[strs["country"].isin(group)]
    named = view.accounts["account_id"].isin(mine["account_id"])
    return {"transactions": len(view.transactions), "accounts": len(view.accounts),
            "named_accounts": int(named.sum()), "other_accounts": int((~named).sum()),
            "other_accounts_as": "keyed hashes" if privacy else "account ids",
            "strs_received": len(mine)}
