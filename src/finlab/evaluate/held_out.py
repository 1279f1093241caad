"""Two harder views than the temporal split.

- inductive: on the temporal test period, only accounts that made or received no payment in the
  training period (a detector cannot have learnt anything about them);
- case: suspicious cases and their accounts are assigned to train, validation and test case by
  case, so test networks are new to the detector; benign accounts are split account by account.
  Features are computed as of the end of the data, as a bank would compute them; labels of
  validation and test cases never reach `fit`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from finlab.rng import generator
from finlab.schema import Dataset
from finlab.truth import Targets, period_targets


def restrict(targets: Targets, ids: pd.Index) -> Targets:
    """The targets of `ids` only."""
    keep = targets.y.index.intersection(ids)
    y = targets.y.reindex(keep)
    pos = y.index[y.to_numpy() == 1]
    return Targets(y=y, typology=targets.typology.reindex(pos), case_id=targets.case_id.reindex(pos),
                   first_seen=targets.first_seen.reindex(pos),
                   decoy=targets.decoy[targets.decoy.index.isin(keep)])


def unseen_accounts(ds: Dataset, cutoff: pd.Timestamp) -> pd.Index:
    """Accounts with no payment (made or received) before `cutoff`."""
    tx = ds.transactions
    before = (tx["ts"] < cutoff).to_numpy()
    seen = np.unique(np.r_[tx["src_account"].to_numpy()[before],
                           tx["dst_account"].to_numpy()[before]])
    return pd.Index(ds.accounts["account_id"]).difference(pd.Index(seen))


@dataclass(frozen=True)
class CaseSplit:
    """Account ids of each part; a suspicious account belongs to the part of its case."""

    train: pd.Index
    validation: pd.Index
    test: pd.Index
    cases: dict[str, pd.Index]  # case ids per part

    def as_dict(self) -> dict:
        return {**{part: {"cases": len(self.cases[part]),
                                          "accounts": len(getattr(self, part))}
                                   for part in ("train", "validation", "test")}}


def case_split(ds: Dataset, fractions=(0.6, 0.2, 0.2), seed: int = 0) -> CaseSplit:
    """Cases to parts by `fractions` (shuffled with the seed), then their accounts; other
    accounts by account. An account in cases of two parts goes to the later part (test before
    validation before train), so no test network has an account with a training label."""
    la = ds.labels.accounts
    rng = generator(seed, "case split")
    f = np.cumsum(np.asarray(fractions, float))
    cases = pd.Index(la["case_id"].dropna().unique()).sort_values()
    cut = np.round(f[:2] * len(cases)).astype(int)
    order = cases[rng.permutation(len(cases))]
    parts = {"train": order[:cut[0]], "validation": order[cut[0]:cut[1]], "test": order[cut[1]:]}
    in_case = la[la["case_id"].notna()]
    test = pd.Index(in_case.loc[in_case["case_id"].isin(parts["test"]), "account_id"].unique())
    val = pd.Index(in_case.loc[in_case["case_id"].isin(parts["validation"]),
                               "account_id"].unique()).difference(test)
    train = pd.Index(in_case["account_id"].unique()).difference(test).difference(val)
    benign = pd.Index(ds.accounts["account_id"]).difference(pd.Index(in_case["account_id"]))
    u = rng.random(len(benign))
    return CaseSplit(train.union(benign[u < f[0]]),
                     val.union(benign[(u >= f[0]) & (u < f[1])]),
                     test.union(benign[u >= f[1]]), parts)


def training_view(ds: Dataset, split: CaseSplit) -> Dataset:
    """The whole data with only the training cases' labels (account roles, payments, cases and
    observed flags of validation and test cases removed)."""
    lab = ds.labels
    held = split.cases["validation"].union(split.cases["test"])
    la = lab.accounts[lab.accounts["account_id"].isin(split.train)]
    lt = lab.transactions
    lt = lt.assign(is_suspicious=lt["is_suspicious"].astype(bool) & ~lt["case_id"].isin(held))
    observed = lab.observed
    if observed is not None:
        observed = observed[observed["account_id"].isin(split.train)]
    labels = replace(lab, accounts=la, transactions=lt,
                     cases=lab.cases[~lab.cases["case_id"].isin(held)], observed=observed)
    return replace(ds, labels=labels)


def case_targets(ds: Dataset, ids: pd.Index) -> Targets:
    """The positives among `ids` over the whole data."""
    ts = ds.transactions["ts"]
    return restrict(period_targets(ds, ts.min(), ts.max() + pd.Timedelta(seconds=1)), ids)


def scaled_budget(budget: int, part: int, whole: int) -> int:
    """The alert budget for a part of the accounts: the same share of them."""
    return max(1, round(budget * part / max(whole, 1)))


@dataclass
class Views:
    """What one seed's runs need for intervals, the inductive view and the case split, built
    once and used for every detector."""

    resamples: int
    seed: int
    budget: int
    targets: Targets
    weights: np.ndarray | None
    inductive: Targets | None = None
    inductive_budget: int = 0
    inductive_weights: np.ndarray | None = None
    case: CaseSplit | None = None
    case_data: tuple | None = None  # (training view, blind data, validation, test targets)
    case_budget: int = 0
    case_weights: np.ndarray | None = None

    @classmethod
    def prepare(cls, exp, ds: Dataset, split, seed: int, test_targets: Targets,
                budget: int) -> Views:
        from finlab.evaluate.bootstrap import resample_weights

        n = exp.split.bootstrap
        weigh = (lambda t: resample_weights(t, n, seed)) if n else (lambda t: None)
        views = cls(n, seed, budget, test_targets, weigh(test_targets))
        whole = len(test_targets.y)
        if "inductive" in exp.split.views:
            views.inductive = restrict(test_targets, unseen_accounts(ds, split.train_end))
            views.inductive_budget = scaled_budget(budget, len(views.inductive.y), whole)
            views.inductive_weights = weigh(views.inductive)
        if "case" in exp.split.views:
            views.case = cs = case_split(ds, exp.split.fractions, seed)
            test = case_targets(ds, cs.test)
            views.case_data = (training_view(ds, cs), ds.without_labels(),
                               case_targets(ds, cs.validation), test)
            days = (ds.transactions["ts"].max() - ds.transactions["ts"].min()) / pd.Timedelta(
                days=1)
            views.case_budget = scaled_budget(
                max(1, round(exp.budget.alerts_per_month * days / 30)), len(test.y),
                len(ds.accounts))
            views.case_weights = weigh(test)
        return views

    def as_dict(self) -> dict:
        """What the views were: sizes of the inductive test and of the case split's parts."""
        out = {"bootstrap_resamples": self.resamples}
        if self.inductive is not None:
            out["inductive"] = {"accounts": len(self.inductive.y),
                                "positives": int(self.inductive.y.sum()),
                                "budget": self.inductive_budget}
        if self.case is not None:
            out["case"] = {**self.case.as_dict(), "budget": self.case_budget}
        return out

    def add(self, metrics: dict, scores: pd.Series, threshold: float,
            detected_at: pd.Series) -> None:
        """Intervals on the temporal test and the inductive view's metrics, into `metrics`."""
        from finlab.evaluate.metrics import account_metrics

        if self.weights is not None:
            metrics["account"]["intervals"] = self._intervals(scores, self.targets, self.weights,
                                                              threshold, self.budget)
        if self.inductive is not None:
            m = account_metrics(scores, self.inductive, threshold, self.inductive_budget,
                                detected_at)
            m["budget"] = self.inductive_budget
            if self.inductive_weights is not None:
                m["intervals"] = self._intervals(scores, self.inductive, self.inductive_weights,
                                                 threshold, self.inductive_budget)
            metrics["inductive"] = m

    def add_case_split(self, metrics: dict, det) -> None:
        """Fit `det` (unfitted) on the training cases, choose its threshold on the validation
        accounts and measure it on the test accounts; into metrics["case_split"]."""
        from finlab.evaluate.metrics import account_metrics, best_f1_threshold

        train, blind, val, test = self.case_data
        det.fit(train, train.labels)
        scores = det.account_scores(blind)
        yv = val.y
        threshold = best_f1_threshold(yv.to_numpy(),
                                      scores.reindex(yv.index).fillna(scores.min()).to_numpy())
        m = account_metrics(scores, test, threshold, self.case_budget)
        m["budget"] = self.case_budget
        if self.case_weights is not None:
            m["intervals"] = self._intervals(scores, test, self.case_weights, threshold,
                                             self.case_budget)
        metrics["case_split"] = m

    @staticmethod
    def _intervals(scores, targets, weights, threshold, budget):
        from finlab.evaluate.bootstrap import intervals

        return intervals(scores, targets, weights, threshold, budget)
