"""Indicator rules written in YAML: conditions over account features or over payments, with
bands and weights combined into typology scores with review and alert thresholds.

A rule scores each account between 0 and 1 in one of three ways:
- `feature` + `bands`: the band the feature's value falls in gives the score;
- `when`: a condition over features, 1 where it holds;
- `payments` (+ `days`, `measure`, `bands`): a condition over the account's outgoing payments in
  the last `days`; their count (or sum) falls in a band.
A score (typology) is the weighted mean of its rules' scores (0 wherever a rule marked
`required` scores 0); accounts at or above `review` are
for review, at or above `alert` are alerts. Shipped files: ocse.yaml and classic.yaml beside this
module (also under rules/ in the repository).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from finlab.config import read_model
from finlab.errors import InputError
from finlab.features import DEFAULT_WINDOWS, Ledger, feature_names
from finlab.registry import StrictModel
from finlab.rules.expr import Expression, ExpressionError, compile_expression
from finlab.schema import CHANNELS

SHIPPED = ("ocse", "classic")


class Band(StrictModel):
    min: float | None = Field(None, description="lower bound, inclusive")
    max: float | None = Field(None, description="upper bound, exclusive")
    score: float = Field(..., ge=0, le=1)


class RuleSpec(StrictModel):
    id: str = Field(..., description="indicator id, e.g. CS01")
    description: str = ""
    source: str = Field("", description="where the indicator comes from")
    feature: str | None = None
    when: str | None = None
    payments: str | None = Field(None, description="condition over outgoing payments")
    days: int = Field(90, ge=1, description="window of `payments`, in days")
    measure: Literal["count", "sum"] = "count"
    bands: list[Band] | None = None
    weight: float = Field(1.0, gt=0)
    required: bool = Field(False, description="the whole score is 0 where this rule scores 0")

    @model_validator(mode="after")
    def _one_kind(self) -> RuleSpec:
        kinds = [k for k in ("feature", "when", "payments") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a rule needs exactly one of feature, when, payments; got "
                             f"{kinds or 'none'}")
        if kinds[0] in ("feature", "payments") and not self.bands:
            raise ValueError(f"a `{kinds[0]}` rule needs bands, e.g. [{{min: 3, score: 1}}]")
        if kinds[0] == "when" and self.bands:
            raise ValueError("a `when` rule scores 1 where it holds; it takes no bands")
        return self


class ScoreSpec(StrictModel):
    name: str
    typology: str | None = Field(None, description="the labelled typology this score targets")
    review: float = Field(0.5, ge=0, le=1)
    alert: float = Field(0.7, ge=0, le=1)
    rules: list[RuleSpec] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _thresholds(self) -> ScoreSpec:
        if self.alert < self.review:
            raise ValueError(f"alert ({self.alert}) must be >= review ({self.review})")
        return self


class RuleFileSpec(StrictModel):
    name: str
    description: str = ""
    windows: list[int] = Field(default_factory=lambda: list(DEFAULT_WINDOWS))
    scores: list[ScoreSpec] = Field(..., min_length=1)


#: fields of a payment that `payments:` conditions may use
PAYMENT_FIELDS = {
    "amount": "amount in the base currency",
    "amount_local": "amount in the payment's currency",
    "hour": "hour of day in the payer's country",
    "night": "between 22:00 and 06:00 in the payer's country",
    "cross_border": "payer and payee in different countries",
    "high_risk": "payee in a country rated high risk",
    "cover_word": "reference carries a cover word (CS07)",
    "even": "a whole multiple of 5 in the payment's currency",
    "related": "payer and payee share a household (family link)",
    "channel": f"one of {', '.join(CHANNELS)}",
    "payee_sector": "the payee's sector, e.g. software_vpn, webcam, travel, adult_content",
}


def payment_columns(lg: Ledger) -> dict[str, np.ndarray]:
    return {
        "amount": lg.amount, "amount_local": lg.amount_local, "hour": lg.local_hour,
        "night": lg.night,
        "cross_border": lg.cross_border, "high_risk": lg.high_risk_dst & lg.cross_border,
        "cover_word": lg.cover_word, "even": lg.even, "related": lg.related, "channel": lg.channel,
        "payee_sector": lg.dst_sector if lg.dst_sector is not None else
        np.full(lg.t.size, -1, np.int16),
    }


def _channel_code(name: str) -> int:
    if name not in CHANNELS:
        raise ExpressionError(f"unknown channel {name!r}; known: {', '.join(CHANNELS)}")
    return CHANNELS.index(name)


def encoders(lg: Ledger | None) -> dict:
    """How text constants in `payments:` conditions become codes of the coded fields."""
    sectors = list(lg.sectors) if lg is not None else []
    return {"channel": _channel_code,
            "payee_sector": lambda name: sectors.index(name) if name in sectors else -2}


@dataclass(frozen=True)
class Rule:
    spec: RuleSpec
    score_name: str
    condition: Expression | None

    @property
    def key(self) -> str:
        return f"{self.score_name}/{self.spec.id}"

    def banded(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros(values.shape, np.float64)
        for band in reversed(self.spec.bands or []):  # first matching band wins
            inside = np.ones(values.shape, bool)
            if band.min is not None:
                inside &= values >= band.min
            if band.max is not None:
                inside &= values < band.max
            out = np.where(inside, band.score, out)
        return out

    def values(self, features: pd.DataFrame, lg: Ledger | None, payments: dict | None
               ) -> np.ndarray:
        """The quantity the rule looks at, per account (the feature, the condition, or the
        count/sum of matching payments)."""
        s = self.spec
        if s.feature is not None:
            return features[s.feature].to_numpy(np.float64)
        if s.when is not None:
            cols = {n: features[n].to_numpy() for n in self.condition.names}
            return np.asarray(self.condition.evaluate(cols), bool).astype(np.float64)
        start = lg.since(s.days)
        window = {k: v[start:] for k, v in payments.items()}
        match = np.asarray(self.condition.evaluate(window, encoders(lg)), bool)
        if match.ndim == 0:
            match = np.full(lg.src.size - start, bool(match))
        weights = match if s.measure == "count" else np.where(match, lg.amount[start:], 0.0)
        return lg.count(lg.src[start:], weights)

    def score(self, values: np.ndarray) -> np.ndarray:
        return values.astype(np.float64) if self.spec.when is not None else self.banded(values)


@dataclass(frozen=True)
class RuleSet:
    spec: RuleFileSpec
    rules: tuple[Rule, ...]
    source: str

    @property
    def needs_ledger(self) -> bool:
        return any(r.spec.payments is not None for r in self.rules)

    def evaluate(self, features: pd.DataFrame, lg: Ledger | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(values, rule scores, typology scores), each indexed like `features`: what each rule
        looked at, what each rule scored, and the weighted score of each typology."""
        if self.needs_ledger and lg is None:
            raise InputError(f"{self.source}: `payments` rules need the ledger (pass lg=)")
        payments = payment_columns(lg) if self.needs_ledger else None
        values, scores = {}, {}
        for rule in self.rules:
            v = rule.values(features, lg, payments)
            values[rule.key], scores[rule.key] = v, rule.score(v)
        typology = {}
        for score in self.spec.scores:
            mine = [r for r in self.rules if r.score_name == score.name]
            total = sum(r.spec.weight for r in mine)
            value = sum(scores[r.key] * r.spec.weight for r in mine) / total
            for r in mine:
                if r.spec.required:
                    value = np.where(scores[r.key] > 0, value, 0.0)
            typology[score.name] = value
        index = features.index
        return (pd.DataFrame(values, index=index), pd.DataFrame(scores, index=index),
                pd.DataFrame(typology, index=index))


def shipped_path(name: str) -> Path:
    return Path(str(resources.files("finlab.rules") / f"{name}.yaml"))


def resolve(name_or_path: str | Path) -> Path:
    """A shipped rule set by name ("ocse") or a path to a rule file."""
    if str(name_or_path) in SHIPPED:
        return shipped_path(str(name_or_path))
    return Path(name_or_path)


def load_rules(path: str | Path) -> RuleSet:
    """Read, validate and compile a rule file; InputError lists every problem with its line.
    A file is compiled once per version (its modification time): simulations score thousands
    of views with the same rules."""
    path = resolve(path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _compiled_rules(path, stamp)


@functools.lru_cache(maxsize=32)
def _compiled_rules(path: Path, stamp: int | None) -> RuleSet:
    source = str(path)
    spec, lines = read_model(path, RuleFileSpec, "a rule file")
    known_features = set(feature_names(spec.windows))
    errors, rules = [], []
    for i, score in enumerate(spec.scores):
        for j, r in enumerate(score.rules):
            kind = ("feature" if r.feature is not None else
                    "when" if r.when is not None else "payments")
            where = ("scores", i, "rules", j, kind)
            at = f"{source}:{lines.get(where, lines.get(where[:-1], '?'))}: " \
                 f"scores[{i}].rules[{j}].{kind} ({r.id})"
            try:
                rules.append(Rule(r, score.name, _compile(r, known_features)))
            except ExpressionError as e:
                errors.append(f"{at}: {e}")
    ids = [r.key for r in rules]
    dupes = sorted({k for k in ids if ids.count(k) > 1})
    if dupes:
        errors.append(f"{source}: rule ids repeat within a score: {', '.join(dupes)}")
    if errors:
        raise InputError("\n".join(errors))
    return RuleSet(spec, tuple(rules), source)


def _compile(r: RuleSpec, known_features: set[str]) -> Expression | None:
    if r.feature is not None:
        if r.feature not in known_features:
            from finlab.rules.expr import _suggest

            raise ExpressionError(f"unknown feature {r.feature!r}"
                                  f"{_suggest(r.feature, known_features)}")
        return None
    if r.when is not None:
        expr = compile_expression(r.when, known_features, boolean=True)
        expr.evaluate({n: np.zeros(0) for n in expr.names})  # type errors surface now
        return expr
    expr = compile_expression(r.payments, set(PAYMENT_FIELDS), boolean=True)
    coded = encoders(None)
    dry = {n: np.zeros(0, np.int16 if n in coded else np.float64) for n in PAYMENT_FIELDS}
    expr.evaluate(dry, coded)
    return expr


def check_rules(rs: RuleSet, features: pd.DataFrame, lg: Ledger | None = None,
                labels=None) -> pd.DataFrame:
    """Per rule and per score threshold: how many accounts it hits and, where labels exist,
    the precision (hits in any suspicious case) and the recall of the score's target typology."""
    _, scores, typology = rs.evaluate(features, lg)
    suspicious = None
    if labels is not None:
        la = labels.accounts
        in_case = la[la["case_id"].notna()]
        suspicious = features.index.isin(in_case["account_id"])
    rows = []

    def row(name, what, hit: np.ndarray, target_typology):
        r = {"rule": name, "description": what, "hits": int(hit.sum())}
        if suspicious is not None:
            mine = features.index.isin(
                in_case.loc[in_case["typology"].astype(str) == str(target_typology),
                            "account_id"])
            r["precision"] = round(float(suspicious[hit].mean()), 3) if hit.any() else None
            r["recall"] = round(float(hit[mine].mean()), 3) if mine.any() else None
            r["target_accounts"] = int(mine.sum())
        rows.append(r)

    for score in rs.spec.scores:
        for rule in rs.rules:
            if rule.score_name == score.name:
                row(rule.key, rule.spec.description, scores[rule.key].to_numpy() > 0,
                    score.typology)
        s = typology[score.name].to_numpy()
        row(f"{score.name} >= review", f"weighted score at or above {score.review}",
            s >= score.review - 1e-12, score.typology)
        row(f"{score.name} >= alert", f"weighted score at or above {score.alert}",
            s >= score.alert - 1e-12, score.typology)
    return pd.DataFrame(rows)
