"""Scenario files: pydantic models (extra keys forbidden) and a loader that reports every error.

Errors carry their path in the file (``countries[2].utc_offset``), the line where YAML puts it,
and what is allowed, so `finlab validate` can print all of them at once.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from finlab.errors import InputError
from finlab.registry import StrictModel
from finlab.typologies import TYPOLOGIES
from finlab.world.behaviours import BEHAVIOURS

CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")]

MERCHANT_CATEGORIES = (
    "groceries",
    "retail",
    "utilities",
    "property",
    "travel",
    "software_vpn",
    "adult_content",
    "gaming_giftcards",
    "charity",
    "webcam",
    "crypto_exchange",
)
MerchantCategory = Literal[
    "groceries",
    "retail",
    "utilities",
    "property",
    "travel",
    "software_vpn",
    "adult_content",
    "gaming_giftcards",
    "charity",
    "webcam",
    "crypto_exchange",
]


class Country(StrictModel):
    code: CountryCode
    name: str
    currency: CurrencyCode
    utc_offset: float = Field(ge=-12, le=14, description="hours from UTC")
    risk: Literal["low", "medium", "high"] = "low"
    locale: str = Field("en_US", description="Faker locale for names")

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, v: str) -> str:
        from faker.config import AVAILABLE_LOCALES

        if v not in AVAILABLE_LOCALES:
            near = [loc for loc in AVAILABLE_LOCALES if loc.split("_")[0] == v.split("_")[0]]
            hint = f"; e.g. {', '.join(sorted(near)[:6])}" if near else "; e.g. en_US, de_DE"
            raise ValueError(f"unknown Faker locale {v!r}{hint}")
        return v
    weight: float = Field(1.0, ge=0, description="share of the population living here")
    price_level: float = Field(1.0, gt=0, le=10, description="local prices relative to the base")


class BankGroup(StrictModel):
    country: CountryCode
    kind: Literal["bank", "money_services", "payment_app"] = "bank"
    count: int = Field(1, ge=1, le=1000)


class MerchantGroup(StrictModel):
    count: int = Field(ge=0, le=1_000_000)
    countries: list[CountryCode] | None = Field(
        None, description="where the merchants sit; default: every country by population weight"
    )


class Diaspora(StrictModel):
    origin: CountryCode
    host: CountryCode
    share: float = Field(gt=0, le=1, description="share of the host's persons born in origin")


class Population(StrictModel):
    persons: int = Field(ge=10, le=50_000_000)
    businesses: int = Field(ge=1, le=10_000_000, description="employers and suppliers")
    merchants: dict[MerchantCategory, MerchantGroup] = Field(default_factory=dict)
    household_size_mean: float = Field(2.2, ge=1, le=8)
    diaspora: list[Diaspora] = Field(default_factory=list)
    wallet_share: float = Field(0.35, ge=0, le=1, description="persons with a payment-app wallet")
    activity_sigma: float = Field(
        0.8, ge=0, le=3, description="log-normal spread of per-account activity (heavy tail)"
    )


class Period(StrictModel):
    start: dt.date
    days: int = Field(ge=1, le=3660)
    window_days: int = Field(
        14, ge=1, le=366, description="transactions are materialised window by window"
    )


class TypologySpec(StrictModel):
    """One entry of `typologies:`; the typology registry validates `params`."""

    name: str
    count: int = Field(1, ge=0, le=100_000, description="cases (memory is estimated before "
                       "any work)")
    params: dict[str, Any] = Field(default_factory=dict)


class ObservedLabels(StrictModel):
    """Imperfect labels, for experiments on label noise: some cases are never found, some
    look-alike accounts are wrongly flagged, and flags arrive late."""

    recall: float = Field(0.7, ge=0, le=1, description="share of suspicious cases ever found")
    false_flag_rate: float = Field(
        0.02, ge=0, le=1, description="share of look-alike accounts wrongly flagged")
    delay_days: float = Field(
        30.0, ge=0, le=3650, description="mean days from a case's first payment to its flags")


class Scenario(StrictModel):
    name: str = "scenario"
    seed: int = Field(0, ge=0, le=2**63 - 1)
    base_currency: CurrencyCode = "EUR"
    period: Period
    countries: list[Country] = Field(min_length=1)
    banks: list[BankGroup] = Field(min_length=1)
    population: Population
    fx_rates: dict[CurrencyCode, Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]] = Field(
        default_factory=dict, description="value of one unit in the base currency"
    )
    behaviours: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    typologies: list[TypologySpec] = Field(default_factory=list)
    prevalence_trend: float | None = Field(
        None, gt=0, le=100, description="suspicious activity of long-running typologies grows by "
        "this factor over the period (2.0 doubles it); none keeps the share level")
    observed_labels: ObservedLabels | None = Field(
        None, description="also write labels/observed.parquet with noisy, delayed labels")

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        codes = [c.code for c in self.countries]
        errors = []
        if len(set(codes)) != len(codes):
            errors.append("countries: each code may appear once")
        known = set(codes)
        for i, b in enumerate(self.banks):
            if b.country not in known:
                errors.append(f"banks[{i}].country: {b.country!r} is not in countries")
        for cat, g in self.population.merchants.items():
            for c in g.countries or []:
                if c not in known:
                    errors.append(f"population.merchants.{cat}.countries: {c!r} is not in countries")
        for i, d in enumerate(self.population.diaspora):
            for side in ("origin", "host"):
                if getattr(d, side) not in known:
                    errors.append(f"population.diaspora[{i}].{side}: not in countries")
        for c in self.countries:
            if c.currency != self.base_currency and c.currency not in self.fx_rates:
                errors.append(f"fx_rates: no rate for {c.currency} (used by {c.code})")
            if not any(b.country == c.code and b.kind == "bank" for b in self.banks):
                errors.append(f"banks: country {c.code} needs at least one entry of kind bank")
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def fx(self, currency: str) -> float:
        return 1.0 if currency == self.base_currency else self.fx_rates[currency]


# --- loading with readable errors -------------------------------------------------------------


def line_index(text: str) -> dict[tuple, int]:
    """Map each key path in a YAML document to its 1-based line, for error messages."""
    lines: dict[tuple, int] = {}
    try:  # the refusing loader: no alias is walked (their expansion is exponential)
        root = yaml.compose(text, Loader=_TextDatesLoader)
    except (yaml.YAMLError, RecursionError):
        return lines

    def walk(node, path):
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                walk(v, path + (k.value,))
                lines[path + (k.value,)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _describe(err: dict) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key (not allowed here)"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}; got {err.get('input')!r}"
    if kind == "string_type" and isinstance(err.get("input"), bool):
        return "must be text; quote it (YAML reads NO, yes, on and off as true/false)"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg']}; got {err.get('input')!r}"


def _piece_location(piece: str, lines: dict[tuple, int], source: str) -> str:
    """file:line for a cross-check message that starts with its path, e.g. banks[2].country."""
    path = re.match(r"[\w.\[\]]+", piece)
    keys: tuple = ()
    if path:
        for name, index in re.findall(r"(\w+)|\[(\d+)\]", path.group(0)):
            keys += (int(index),) if index else (name,)
    for n in range(len(keys), 0, -1):
        if keys[:n] in lines:
            return f"{source}:{lines[keys[:n]]}"
    return source


def format_errors(exc: ValidationError, lines: dict[tuple, int], source: str,
                  prefix: tuple = ()) -> list[str]:
    """One readable line per pydantic error: file:line: path: what is wrong and what is allowed."""
    out = []
    for err in exc.errors():
        loc = tuple(p for p in prefix + tuple(err["loc"]))
        # pydantic puts literal/union branch names into loc; keep only keys that exist in the file
        line = None
        for n in range(len(loc), -1, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        where = f"{source}:{line}" if line else source
        if err["type"] == "value_error" and not loc:
            for piece in _describe(err).split("; "):
                out.append(f"{_piece_location(piece, lines, source)}: {piece}")
            continue
        out.append(f"{where}: {_format_loc(loc)}: {_describe(err)}")
    return out


#: deepest nesting of mappings and lists a YAML file may have
MAX_YAML_DEPTH = 50
#: largest YAML file finlab reads (scenarios, experiments and rule files are a few kB)
MAX_YAML_BYTES = 4 << 20


class _Refused(yaml.MarkedYAMLError):
    """A YAML construct finlab refuses (anchors, aliases, duplicate keys, deep nesting)."""


class _TextDatesLoader(yaml.SafeLoader):
    """Safe YAML loading that keeps dates as text (so pydantic reports a bad date with its path)
    and refuses what a configuration file never needs: anchors and aliases (whose expansion can
    exhaust memory), duplicate keys (the second silently wins otherwise) and nesting deeper than
    MAX_YAML_DEPTH."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(problem="anchors and aliases (& and *) are not allowed; write the "
                           "values out", problem_mark=event.start_mark)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _Refused(problem=f"nested deeper than {MAX_YAML_DEPTH} levels",
                           problem_mark=event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                new = key not in seen
            except TypeError:  # an unhashable key: the base class reports it
                break
            if not new:
                raise _Refused(problem=f"duplicate key {key!r}; each key may appear once",
                               problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_TextDatesLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str, source: str) -> Any:
    """YAML text as Python data; anything refused or malformed is one line, file:line: why."""
    try:
        return yaml.load(text, Loader=_TextDatesLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        kind = "refused YAML" if isinstance(e, _Refused) else "malformed YAML"
        raise InputError(f"{where}: {kind}: {problem}") from None
    except RecursionError:
        raise InputError(f"{source}: refused YAML: nested too deeply") from None


def read_yaml(path: Path | str) -> tuple[Any, str]:
    p = Path(path)
    try:
        if p.is_file() and p.stat().st_size > MAX_YAML_BYTES:
            raise InputError(f"{p}: larger than {MAX_YAML_BYTES >> 20} MiB; not a finlab YAML file")
        text = p.read_text()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot be read ({e.__class__.__name__})") from None
    except OSError as e:
        raise InputError(f"{p}: cannot be read ({e.strerror})") from None
    return parse_yaml(text, str(p)), text


def scenario_errors(data: Any, text: str, source: str) -> tuple[Scenario | None, list[str]]:
    """Validate a parsed scenario; return it (or None) and every error found."""
    lines = line_index(text)
    if not isinstance(data, dict):
        return None, [f"{source}: a scenario must be a mapping of keys to values"]
    errors: list[str] = []
    scenario = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as e:
        errors.extend(format_errors(e, lines, source))
    behaviours = data.get("behaviours") or {}
    if isinstance(behaviours, dict):
        for name, params in behaviours.items():
            if params is not None and not isinstance(params, dict):
                continue  # reported by the Scenario model
            if name not in BEHAVIOURS:
                known = ", ".join(BEHAVIOURS.names())
                line = lines.get(("behaviours", name))
                where = f"{source}:{line}" if line else source
                errors.append(f"{where}: behaviours.{name}: unknown behaviour; known: {known}")
                continue
            try:
                BEHAVIOURS.get(name).Params.model_validate(params or {})
            except ValidationError as e:
                errors.extend(format_errors(e, lines, source, ("behaviours", name)))
    typologies = data.get("typologies") or []
    if isinstance(typologies, list) and typologies:
        errors.extend(_typology_errors(typologies, lines, source))
    return (scenario if not errors else None), errors


def _typology_errors(typologies: list, lines: dict, source: str) -> list[str]:
    errors = []
    for i, spec in enumerate(typologies):
        if not isinstance(spec, dict) or "name" not in spec:
            continue  # reported by the Scenario model
        if spec["name"] not in TYPOLOGIES:
            known = ", ".join(TYPOLOGIES.names())
            line = lines.get(("typologies", i, "name"))
            where = f"{source}:{line}" if line else source
            errors.append(f"{where}: typologies[{i}].name: unknown typology {spec['name']!r}; "
                          f"known: {known}")
            continue
        try:
            TYPOLOGIES.get(spec["name"]).Params.model_validate(spec.get("params") or {})
        except ValidationError as e:
            errors.extend(format_errors(e, lines, source, ("typologies", i, "params")))
    return errors


def read_model(path: Path | str, model, what: str):
    """A YAML file validated into `model`; returns it with the file's line index (errors name
    file:line and the field)."""
    data, text = read_yaml(path)
    lines = line_index(text)
    if not isinstance(data, dict):
        raise InputError(f"{path}: {what} must be a mapping of keys to values")
    try:
        return model.model_validate(data), lines
    except ValidationError as e:
        raise InputError("\n".join(format_errors(e, lines, str(path)))) from None


def load_scenario(path: Path | str, *, seed: int | None = None) -> Scenario:
    """Read and validate a scenario file; raise InputError listing every problem."""
    data, text = read_yaml(path)
    scenario, errors = scenario_errors(data, text, str(path))
    if errors:
        raise InputError("\n".join(errors))
    assert scenario is not None
    if seed is not None:
        if not 0 <= seed <= 2**63 - 1:
            raise InputError(f"--seed: must be between 0 and 2**63-1; got {seed}")
        scenario = scenario.model_copy(update={"seed": seed})
    return scenario
