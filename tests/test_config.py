"""Scenario loading: every problem reported once, with its file, line, path and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from finlab.config import Scenario, load_scenario, read_yaml, scenario_errors
from finlab.errors import InputError

# A small valid scenario; variants below change one or a few of its lines.
BASE = """\
name: unit
seed: 3
period:
  start: 2025-01-01
  days: 10
  window_days: 5
countries:
  - {code: "NO", name: Norway, currency: NOK, utc_offset: 1}
  - code: PH
    name: Philippines
    currency: PHP
    utc_offset: 8
    risk: high
banks:
  - {country: "NO", kind: bank, count: 2}
  - {country: PH, kind: bank}
population:
  persons: 50
  businesses: 5
  merchants:
    groceries: {count: 3}
  diaspora:
    - {origin: PH, host: "NO", share: 0.1}
fx_rates: {NOK: 0.085, PHP: 0.016}
behaviours:
  salary: {}
  card_spending: {payments_per_day: 0.5}
typologies: []
"""

# error lines look like "<file>:<line>: <path>: <message>"
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<path>[^:]+): (?P<msg>.+)$")


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle`."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in the text")


def variant(*replacements: tuple[str, str]) -> str:
    text = BASE
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def errors_of(text: str, source: str = "s.yaml") -> list[str]:
    import yaml

    _, errors = scenario_errors(yaml.safe_load(text), text, source)
    return errors


def parsed(errors: list[str]) -> dict[str, tuple[int, str]]:
    """path -> (line, message), asserting every error has the file:line: path: message shape."""
    out = {}
    for e in errors:
        m = ERROR.match(e)
        assert m, f"not of the form file:line: path: message: {e!r}"
        assert m["file"] == "s.yaml"
        out[m["path"]] = (int(m["line"]), m["msg"])
    return out


def test_base_scenario_is_valid():
    import yaml

    sc, errors = scenario_errors(yaml.safe_load(BASE), BASE, "s.yaml")
    assert errors == []
    assert isinstance(sc, Scenario)
    assert sc.population.persons == 50 and sc.countries[1].risk == "high"


def test_every_error_is_reported_with_its_line_and_path():
    text = variant(
        ("  days: 10", "  days: 0"),
        ("    utc_offset: 8", "    utc_offset: 99"),
        ("    risk: high", "    risk: extreme"),
        ("  businesses: 5", "  businesses: 5\n  personz: 3"),
        ("card_spending: {payments_per_day: 0.5}", "card_spending: {payments_per_day: 500}"),
        ("  salary: {}", "  salary: {}\n  flying: {}"),
    )
    errors = errors_of(text)
    got = parsed(errors)
    expected = {
        "period.days": line_of(text, "days: 0"),
        "countries[1].utc_offset": line_of(text, "utc_offset: 99"),
        "countries[1].risk": line_of(text, "risk: extreme"),
        "population.personz": line_of(text, "personz"),
        "behaviours.card_spending.payments_per_day": line_of(text, "payments_per_day: 500"),
        "behaviours.flying": line_of(text, "flying"),
    }
    assert {p: line for p, (line, _) in got.items()} == expected
    assert len(errors) == len(expected), "one line per problem"


def test_messages_say_what_is_allowed():
    from finlab.world.behaviours import BEHAVIOURS

    text = variant(
        ("    utc_offset: 8", "    utc_offset: 99"),
        ("    risk: high", "    risk: extreme"),
        ("  businesses: 5", "  businesses: 5\n  personz: 3"),
        ("  salary: {}", "  salary: {}\n  flying: {}"),
        ("    groceries: {count: 3}", "    groceries: {count: 3}\n    bakery: {count: 1}"),
    )
    got = parsed(errors_of(text))
    assert "14" in got["countries[1].utc_offset"][1] and "99" in got["countries[1].utc_offset"][1]
    risk = got["countries[1].risk"][1]
    assert all(v in risk for v in ("low", "medium", "high")) and "extreme" in risk
    assert "unknown key" in got["population.personz"][1]
    flying = got["behaviours.flying"][1]
    assert "unknown behaviour" in flying
    assert all(name in flying for name in BEHAVIOURS.names())
    bakery = [msg for path, (_, msg) in got.items() if "bakery" in path]
    assert len(bakery) == 1 and "groceries" in bakery[0] and "crypto_exchange" in bakery[0]


def test_nested_behaviour_params_are_checked():
    webcam = "  subscriptions: {webcam: {share: 3, price: 0}}"
    text = variant(("  salary: {}", "  salary: {}\n" + webcam))
    got = parsed(errors_of(text))
    line = line_of(text, "subscriptions:")
    assert got["behaviours.subscriptions.webcam.share"][0] == line
    assert got["behaviours.subscriptions.webcam.price"][0] == line
    assert len(got) == 2


def test_unquoted_norway_gets_a_hint():
    text = variant(('{code: "NO", name: Norway', "{code: NO, name: Norway"))
    got = parsed(errors_of(text))
    assert "countries[0].code" in got
    assert got["countries[0].code"][0] == line_of(text, "code: NO,")
    assert "quote" in got["countries[0].code"][1]


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n", "42\n"])
def test_a_scenario_must_be_a_mapping(text):
    import yaml

    sc, errors = scenario_errors(yaml.safe_load(text), text, "s.yaml")
    assert sc is None
    assert len(errors) == 1 and errors[0].startswith("s.yaml")
    assert "mapping" in errors[0]


def test_malformed_yaml_names_file_and_line(tmp_path):
    text = variant(("  window_days: 5", "  window_days: [5"))
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as e:
        read_yaml(path)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1
    m = re.match(rf"^{re.escape(str(path))}:(\d+): malformed YAML", msg)
    assert m, msg
    # the parser notices the problem on the bracket's line or the next one
    assert line_of(text, "window_days: [5") <= int(m[1]) <= line_of(text, "window_days: [5") + 1


def test_tab_indentation_is_malformed_yaml(tmp_path):
    path = tmp_path / "tab.yaml"
    path.write_text(variant(("  persons: 50", "\tpersons: 50")))
    with pytest.raises(InputError, match=r"malformed YAML"):
        load_scenario(path)


def test_missing_file_unreadable_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file") as e:
        load_scenario(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in str(e.value)
    with pytest.raises(InputError, match="cannot be read"):
        load_scenario(tmp_path)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="cannot be read"):
        load_scenario(binary)


def test_load_scenario_lists_every_problem(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(variant(("  days: 10", "  days: 0"), ("  persons: 50", "  persons: 5")))
    with pytest.raises(InputError) as e:
        load_scenario(path)
    lines = str(e.value).splitlines()
    assert len(lines) == 2
    assert any("period.days" in x for x in lines) and any("population.persons" in x for x in lines)
    assert all(x.startswith(f"{path}:") for x in lines)


def test_cross_check_errors_point_at_the_offending_line():
    """Checks across sections (bank country unknown, missing FX rate, merchants abroad) must name
    the line of the key at fault, not the first line of the document."""
    text = variant(
        ("  - {country: PH, kind: bank}",
         "  - {country: PH, kind: bank}\n  - {country: XX, kind: bank}"),
        ("    groceries: {count: 3}", "    groceries: {count: 3, countries: [DE]}"),
        ("fx_rates: {NOK: 0.085, PHP: 0.016}", "fx_rates: {NOK: 0.085}"),
    )
    got = parsed(errors_of(text))
    assert got["banks[2].country"][0] == line_of(text, "country: XX")
    assert got["population.merchants.groceries.countries"][0] == line_of(text, "countries: [DE]")
    fx = [(line, msg) for path, (line, msg) in got.items()
          if path.startswith("fx_rates") and "PHP" in path + msg]
    assert len(fx) == 1, got
    assert fx[0][0] == line_of(text, "fx_rates:")


@pytest.mark.parametrize("rate", ["-1", "0"])
def test_fx_rates_must_be_positive(rate):
    """A rate of zero or below makes amount_base zero or negative: it is a value out of range."""
    text = variant(("fx_rates: {NOK: 0.085, PHP: 0.016}", f"fx_rates: {{NOK: {rate}, PHP: 0.016}}"))
    got = parsed(errors_of(text))
    assert "fx_rates.NOK" in got, got
    assert got["fx_rates.NOK"][0] == line_of(text, "fx_rates:")


def test_impossible_date_is_an_input_error(tmp_path):
    """YAML turns 2025-13-01 into a date and fails; that must be one clear line, not a crash."""
    text = variant(("  start: 2025-01-01", "  start: 2025-13-01"))
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as e:
        load_scenario(path)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1
    assert msg.startswith(f"{path}:{line_of(text, 'start: 2025-13-01')}:"), msg
    assert "period.start" in msg


def test_behaviour_params_that_are_not_a_mapping_give_one_line():
    text = variant(("  salary: {}", "  salary: 5"))
    errors = errors_of(text)
    assert len(errors) == 1, errors
    assert parsed(errors)["behaviours.salary"][0] == line_of(text, "salary: 5")


def test_unknown_typology_is_reported():
    text = variant(("typologies: []", "typologies:\n  - {name: smurfing, count: 2}"))
    got = parsed(errors_of(text))
    assert got["typologies[0].name"][0] == line_of(text, "smurfing")
    assert "smurfing" in got["typologies[0].name"][1]


def test_seed_override(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(BASE)
    assert load_scenario(path).seed == 3
    assert load_scenario(path, seed=11).seed == 11


@pytest.mark.parametrize("seed", [-1, 2**63])
def test_seed_override_out_of_range_is_an_input_error(tmp_path, seed):
    """The --seed override must obey the same range as the scenario's seed (0 .. 2**63-1)."""
    path = tmp_path / "s.yaml"
    path.write_text(BASE)
    with pytest.raises(InputError, match="seed"):
        load_scenario(path, seed=seed)


def test_scenario_models_are_frozen_and_strict():
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        Scenario.model_validate({"period": {"start": "2025-01-01", "days": 1}, "bogus": 1})
    sc = load_scenario(Path(__file__).resolve().parents[1] / "synthetic" / "classroom.yaml")
    with pytest.raises(pydantic.ValidationError):
        sc.seed = 3
