"""Indicator rules: the safe condition language, loading rule files (with file:line errors),
scoring semantics on hand-made features and payments, check_rules, the `rules` detector and
`finlab rules check`.

Every expected number below is worked out by hand from the tables and rule files written in this
file (see the comments); none is copied from a run of the code.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from finlab.cli import app
from finlab.detectors import make_detector
from finlab.errors import InputError
from finlab.features import account_features, build_ledger
from finlab.rules import (
    PAYMENT_FIELDS,
    SHIPPED,
    check_rules,
    encoders,
    load_rules,
    payment_columns,
    shipped_path,
)
from finlab.rules.expr import ExpressionError, compile_expression
from finlab.schema import CASE_LABELS, CHANNELS, TRANSACTION_LABELS, Dataset, Labels, empty_table

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# =============================================================================================
# 1. the condition language
# =============================================================================================

COLS = {"a": np.array([1.0, 4.0, 10.0]), "b": np.array([2.0, 3.0, 0.0])}


def ev(text: str, columns=None, encode=None, known=None):
    columns = COLS if columns is None else columns
    expr = compile_expression(text, set(known or columns))
    return expr.evaluate(columns, encode)


@pytest.mark.parametrize("text, expected", [
    # a = [1, 4, 10], b = [2, 3, 0]
    ("a + b * 2", [5.0, 10.0, 10.0]),  # precedence: * before +
    ("(a + b) * 2", [6.0, 14.0, 20.0]),
    ("a - b / 2", [0.0, 2.5, 10.0]),
    ("-a + 1", [0.0, -3.0, -9.0]),
    ("abs(a - 5)", [4.0, 1.0, 5.0]),
    ("min(a, b)", [1.0, 3.0, 0.0]),
    ("max(a, b)", [2.0, 4.0, 10.0]),
    ("max(a, 5) - min(b, 1)", [4.0, 4.0, 10.0]),
])
def test_arithmetic(text, expected):
    np.testing.assert_allclose(ev(text), expected)


@pytest.mark.parametrize("text, expected", [
    ("a + b * 2 >= 10", [False, True, True]),
    ("a > 2", [False, True, True]),
    ("a <= 4", [True, True, False]),
    ("a == 4", [False, True, False]),
    ("a != 4", [True, False, True]),
    ("b < a", [False, True, True]),
    # and / or / not
    ("a > 2 and b > 2", [False, True, False]),
    ("a > 2 and not b > 2", [False, False, True]),
    ("a < 2 or b == 0", [True, False, True]),
    ("not (a < 2 or b == 0)", [False, True, False]),
    ("a > 0 and b >= 0 and a < 5", [True, True, False]),
    # chained comparisons: every link must hold
    ("1 < a <= 4", [False, True, False]),
    ("0 <= b < a", [False, True, True]),
    ("b < a < 10", [False, True, False]),
    ("abs(a - 5) >= 4", [True, False, True]),
    ("a in (1, 10)", [True, False, True]),
    ("a not in [1, 10]", [False, True, False]),
])
def test_comparisons_and_logic(text, expected):
    np.testing.assert_array_equal(np.asarray(ev(text), bool), expected)


def test_channel_text_is_encoded():
    code = {name: i for i, name in enumerate(CHANNELS)}
    channel = np.array([code["card"], code["remittance"], code["crypto"], code["cash"],
                        code["p2p_app"]], np.int16)
    cols = {"channel": channel}
    enc = encoders(None)
    np.testing.assert_array_equal(
        ev('channel in ("remittance", "crypto")', cols, enc), [False, True, True, False, False])
    np.testing.assert_array_equal(
        ev('channel not in ("remittance", "crypto")', cols, enc), [True, False, False, True, True])
    np.testing.assert_array_equal(ev('channel == "cash"', cols, enc),
                                  [False, False, False, True, False])
    # text on the left works too
    np.testing.assert_array_equal(ev('"card" == channel', cols, enc),
                                  [True, False, False, False, False])
    with pytest.raises(ExpressionError, match="unknown channel 'wire'"):
        ev('channel == "wire"', cols, enc)
    # without an encoder text cannot be compared with a number column
    with pytest.raises(ExpressionError, match="can only be compared"):
        ev('channel == "cash"', cols)


@pytest.mark.parametrize("text", ["a >", "a > > 1", "(a + 1", "a = 1", "and a"])
def test_syntax_error_names_the_column(text):
    with pytest.raises(ExpressionError, match=r"syntax error at column \d+"):
        compile_expression(text, {"a"})


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_condition(text):
    with pytest.raises(ExpressionError, match="empty"):
        compile_expression(text, {"a"})


def test_unknown_name_suggests_a_near_miss():
    known = {"out_count_30d", "in_count_30d", "night_share_90d"}
    with pytest.raises(ExpressionError) as e:
        compile_expression("out_cout_30d > 1", known)
    msg = str(e.value)
    assert "unknown name 'out_cout_30d' at column 1" in msg
    assert "did you mean out_count_30d" in msg
    # column of the second name: "a > 1 and " is 10 characters
    with pytest.raises(ExpressionError, match="at column 11"):
        compile_expression("a > 1 and zzz_nothing_alike < 2", {"a"})
    with pytest.raises(ExpressionError) as e:
        compile_expression("qqqq > 1", known)
    assert "did you mean" not in str(e.value)


@pytest.mark.parametrize("text, why", [
    ("a.__class__", "Attribute"),
    ("a.__class__.__bases__", "Attribute"),
    ('__import__("os")', "only abs"),
    ('__import__("os").system("true")', "only abs"),
    ("open('x')", "only abs"),
    ("a.sum()", "only abs"),
    ("abs(a, key=1)", "only abs"),
    ("(lambda: 1)()", "only abs"),
    ("lambda: a", "Lambda"),
    ("a[0]", "Subscript"),
    ("[x for x in a]", "ListComp"),
    ("{x for x in a}", "SetComp"),
    ("(x for x in a)", "GeneratorExp"),
    ("{x: 1 for x in a}", "DictComp"),
    ("a if a else a", "IfExp"),
    ("a ** 2", "Pow"),
    ("(a := 1)", "NamedExpr"),
    ("f'{a}'", "JoinedStr"),
])
def test_forbidden_constructs_are_rejected_at_compile_time(text, why):
    with pytest.raises(ExpressionError, match=re.escape(why)):
        compile_expression(text, {"a"})


def test_builtins_are_not_names():
    # functions that are not abs/min/max are unknown names, not callables
    with pytest.raises(ExpressionError, match="unknown name 'len'"):
        compile_expression("len > 1", {"a"})


def test_expression_names_are_the_columns_it_reads():
    expr = compile_expression("abs(a) > 1 and max(a, b) < 3", {"a", "b", "c"})
    assert expr.names == frozenset({"a", "b"})


# =============================================================================================
# 2. loading rule files
# =============================================================================================


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_files_load_by_name_and_by_path(name):
    assert set(SHIPPED) == {"ocse", "classic"}
    by_name = load_rules(name)
    by_path = load_rules(shipped_path(name))
    by_str = load_rules(str(shipped_path(name)))
    assert by_name.spec == by_path.spec == by_str.spec
    assert by_name.spec.name == name
    assert Path(by_name.source) == shipped_path(name)
    # the copy in the repository's rules/ directory is the same file
    repo_copy = ROOT / "rules" / f"{name}.yaml"
    assert repo_copy.read_text() == shipped_path(name).read_text()
    assert load_rules(repo_copy).spec == by_name.spec
    # both use payments rules
    assert by_name.needs_ledger


def test_shipped_structure():
    ocse = load_rules("ocse")
    assert [s.name for s in ocse.spec.scores] == ["ocse_sender", "ocse_facilitator"]
    assert {s.typology for s in ocse.spec.scores} == {"ocse_payments"}
    keys = [r.key for r in ocse.rules]
    assert keys[0] == "ocse_sender/CS01"
    assert "ocse_facilitator/person" in keys
    assert len(keys) == len(set(keys))
    classic = load_rules("classic")
    assert [s.name for s in classic.spec.scores] == [
        "fan_in", "fan_out", "structuring", "pass_through"]
    for rs in (ocse, classic):
        for s in rs.spec.scores:
            assert 0 <= s.review <= s.alert <= 1


HELPER_RULES = {"person"}


def test_ocse_rules_cite_indicator_ids():
    table = (ROOT / "docs" / "indicators.md").read_text()
    known = set(re.findall(r"^\|\s*(CS\d\d)\s*\|", table, re.MULTILINE))
    assert known == {f"CS{i:02d}" for i in range(1, 14)}
    cited = set()
    for rule in load_rules("ocse").rules:
        rid = rule.spec.id
        if rid in HELPER_RULES:
            continue
        m = re.fullmatch(r"(CS\d\d)(-[a-z0-9-]+)?", rid)
        assert m, f"rule {rid} does not cite an indicator id"
        assert m.group(1) in known, rid
        assert rule.spec.source.strip(), f"{rid} has no source"
        cited.add(m.group(1))
    # CS12 (sender profile) is never a rule input; CS13 needs an FIU list (another detector)
    assert cited == {f"CS{i:02d}" for i in range(1, 12)}


# line numbers of GOOD are fixed: the bad variants below swap or add lines at known places
GOOD = """\
name: bad
windows: [7, 30]
scores:
  - name: s
    review: 0.5
    alert: 0.7
    rules:
      - id: R1
        feature: out_count_30d
        bands: [{min: 1, score: 1}]
      - id: R2
        when: in_count_30d >= 2
      - id: R3
        payments: channel == "cash"
        bands: [{min: 1, score: 1}]
"""


def variant(tmp_path: Path, old: str, new: str, name: str = "bad.yaml") -> Path:
    assert GOOD.count(old) == 1, old
    return write(tmp_path, GOOD.replace(old, new), name)


def test_good_template_loads(tmp_path):
    rs = load_rules(write(tmp_path, GOOD))
    assert [r.key for r in rs.rules] == ["s/R1", "s/R2", "s/R3"]
    assert rs.needs_ledger


BAD_CASES = {
    # name: (old, new, line, fragments the message must contain)
    "yaml_syntax": ("feature: out_count_30d\n", "feature: out_count_30d: x\n", 9,
                    ["malformed YAML"]),
    "unknown_key": ("when: in_count_30d >= 2\n", "when: in_count_30d >= 2\n        weigth: 2\n",
                    13, ["scores[0].rules[1].weigth", "unknown key"]),
    "feature_and_when": ("feature: out_count_30d\n",
                         "feature: out_count_30d\n        when: out_count_30d > 1\n", 8,
                         ["scores[0].rules[0]", "exactly one of feature, when, payments"]),
    "no_kind": ("        feature: out_count_30d\n", "        weight: 2\n", 8,
                ["scores[0].rules[0]", "exactly one of feature, when, payments"]),
    "feature_without_bands": ("        bands: [{min: 1, score: 1}]\n      - id: R2",
                              "      - id: R2", 8,
                              ["scores[0].rules[0]", "`feature` rule needs bands"]),
    "when_with_bands": ("when: in_count_30d >= 2\n",
                        "when: in_count_30d >= 2\n        bands: [{min: 1, score: 1}]\n", 11,
                        ["scores[0].rules[1]", "takes no bands"]),
    "alert_below_review": ("alert: 0.7", "alert: 0.3", 4,
                           ["scores[0]", "alert (0.3) must be >= review (0.5)"]),
    "band_score_above_1": ("bands: [{min: 1, score: 1}]\n      - id: R2",
                           "bands: [{min: 1, score: 2}]\n      - id: R2", 10,
                           ["scores[0].rules[0].bands[0].score"]),
    "bad_measure": ('payments: channel == "cash"\n',
                    'payments: channel == "cash"\n        measure: mean\n', 15,
                    ["scores[0].rules[2].measure", "must be one of"]),
    # 90 is not among the file's windows (7, 30), so out_count_90d does not exist here
    "unknown_feature": ("feature: out_count_30d", "feature: out_count_90d", 9,
                        ["scores[0].rules[0].feature (R1)", "unknown feature 'out_count_90d'",
                         "did you mean", "out_count_30d"]),
    "when_syntax": ("when: in_count_30d >= 2", "when: in_count_30d >= >= 2", 12,
                    ["scores[0].rules[1].when (R2)", "syntax error at column"]),
    "when_unknown_name": ("when: in_count_30d >= 2", "when: in_cont_30d >= 2", 12,
                          ["scores[0].rules[1].when (R2)", "unknown name 'in_cont_30d'",
                           "did you mean in_count_30d"]),
    "when_text_constant": ("when: in_count_30d >= 2", 'when: in_count_30d == "many"', 12,
                           ["scores[0].rules[1].when (R2)", "'many'"]),
    "payments_unknown_channel": ('payments: channel == "cash"', 'payments: channel == "wire"',
                                 14, ["scores[0].rules[2].payments (R3)",
                                      "unknown channel 'wire'"]),
    "payments_feature_name": ('payments: channel == "cash"', "payments: out_count_30d > 1", 14,
                              ["scores[0].rules[2].payments (R3)",
                               "unknown name 'out_count_30d'"]),
    "payments_forbidden": ('payments: channel == "cash"', "payments: amount.__class__", 14,
                           ["scores[0].rules[2].payments (R3)", "Attribute is not allowed"]),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_rule_file_names_path_line_and_field(tmp_path, case):
    old, new, line, fragments = BAD_CASES[case]
    path = variant(tmp_path, old, new)
    with pytest.raises(InputError) as e:
        load_rules(path)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1, msg
    assert msg.startswith(f"{path}:{line}: "), msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_every_problem_is_reported_with_its_line(tmp_path):
    text = (GOOD.replace("feature: out_count_30d", "feature: out_cnt_30d")
            .replace('channel == "cash"', 'channel == "wire"'))
    path = write(tmp_path, text)
    with pytest.raises(InputError) as e:
        load_rules(path)
    lines = str(e.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:9: scores[0].rules[0].feature (R1): unknown feature")
    assert lines[1].startswith(f"{path}:14: scores[0].rules[2].payments (R3): unknown channel")


def test_repeated_rule_ids(tmp_path):
    path = variant(tmp_path, "- id: R2", "- id: R1")
    with pytest.raises(InputError, match=re.escape(f"{path}: rule ids repeat within a score: "
                                                   "s/R1")):
        load_rules(path)


def test_same_id_in_two_scores_is_fine(tmp_path):
    text = GOOD + ("  - name: other\n"
                   "    rules:\n"
                   "      - id: R1\n"
                   "        feature: out_count_7d\n"
                   "        bands: [{min: 1, score: 1}]\n")
    rs = load_rules(write(tmp_path, text))
    assert [r.key for r in rs.rules] == ["s/R1", "s/R2", "s/R3", "other/R1"]


def test_not_a_mapping_and_missing_file(tmp_path):
    path = write(tmp_path, "- a\n- b\n")
    with pytest.raises(InputError, match=re.escape(f"{path}: a rule file must be a mapping")):
        load_rules(path)
    with pytest.raises(InputError, match="no such file"):
        load_rules(tmp_path / "nope.yaml")
    with pytest.raises(InputError) as e:
        load_rules(write(tmp_path, "name: x\n", "noscores.yaml"))
    assert "scores" in str(e.value) and "required key is missing" in str(e.value)


# =============================================================================================
# 3. scoring semantics
# =============================================================================================

# five accounts and three features
FEATURES = pd.DataFrame(
    {
        "out_count_30d": [0.0, 1.0, 2.5, 3.0, 10.0],
        "in_count_30d": [0.0, 2.0, 2.0, 5.0, 1.0],
        "night_share_30d": [0.9, 0.6, 0.5, 0.7, 1.0],
    },
    index=pd.Index([1, 2, 3, 4, 5], name="account_id"),
)

SCORING = """\
name: scoring
windows: [30]
scores:
  - name: s
    typology: fan_in
    review: 0.5
    alert: 0.8
    rules:
      - id: B
        feature: out_count_30d
        bands: [{min: 1, max: 3, score: 0.5}, {min: 3, score: 1}]
        weight: 3
      - id: W
        when: in_count_30d >= 2 and night_share_30d > 0.5
  - name: r
    typology: structuring
    review: 0.5
    alert: 0.7
    rules:
      - id: N
        when: night_share_30d >= 0.7
        required: true
      - id: B2
        feature: out_count_30d
        bands: [{min: 1, score: 1}]
  - name: o
    rules:
      - id: O
        feature: in_count_30d
        bands: [{max: 1, score: 0.3}, {min: 0, max: 5, score: 0.2}, {min: 2, score: 0.9}]
"""


@pytest.fixture(scope="module")
def scoring(tmp_path_factory):
    return load_rules(write(tmp_path_factory.mktemp("scoring"), SCORING))


def test_rule_values_and_scores(scoring):
    values, scores, typology = scoring.evaluate(FEATURES)
    for frame in (values, scores, typology):
        assert list(frame.index) == [1, 2, 3, 4, 5]
    assert list(scores.columns) == ["s/B", "s/W", "r/N", "r/B2", "o/O"]
    assert list(typology.columns) == ["s", "r", "o"]
    # values: what the rule looked at
    np.testing.assert_array_equal(values["s/B"], [0, 1, 2.5, 3, 10])
    # in >= 2: F T T T F; night > 0.5: T T F T T
    np.testing.assert_array_equal(values["s/W"], [0, 1, 0, 1, 0])
    # bands: 0 below every band; 1 is in the first (min inclusive); 3 is not in the first (max
    # exclusive) but in the second
    np.testing.assert_array_equal(scores["s/B"], [0, 0.5, 0.5, 1, 1])
    np.testing.assert_array_equal(scores["s/W"], [0, 1, 0, 1, 0])
    # night >= 0.7: 0.9 0.6 0.5 0.7 1.0
    np.testing.assert_array_equal(scores["r/N"], [1, 0, 0, 1, 1])
    np.testing.assert_array_equal(scores["r/B2"], [0, 1, 1, 1, 1])
    # in_count 0 -> band 1 (max only); 2 -> bands 2 and 3 match, the first wins; 5 -> band 3
    # only (band 2's max is exclusive); 1 -> band 2 (band 1's max is exclusive)
    np.testing.assert_array_equal(scores["o/O"], [0.3, 0.2, 0.2, 0.9, 0.2])


def test_typology_scores_weighted_and_required(scoring):
    _, _, typology = scoring.evaluate(FEATURES)
    # s = (3 B + 1 W) / 4
    np.testing.assert_allclose(typology["s"], [0, 2.5 / 4, 1.5 / 4, 1.0, 0.75])
    # r = (N + B2) / 2, zeroed where the required N scores 0; account 1 keeps 0.5 although
    # B2 (not required) scores 0 there
    np.testing.assert_allclose(typology["r"], [0.5, 0, 0, 1, 1])
    np.testing.assert_allclose(typology["o"], [0.3, 0.2, 0.2, 0.9, 0.2])


def test_band_edges_on_exact_boundaries(tmp_path):
    text = """\
    name: edges
    windows: [30]
    scores:
      - name: e
        rules:
          - id: E
            feature: out_count_30d
            bands: [{min: 2, max: 4, score: 0.25}, {min: 4, max: 6, score: 0.75}]
    """
    rs = load_rules(write(tmp_path, text))
    f = pd.DataFrame({"out_count_30d": [1.999, 2, 3.999, 4, 5.999, 6, -1]},
                     index=range(7))
    _, scores, _ = rs.evaluate(f)
    # 6 is beyond the last band's exclusive max: nothing
    np.testing.assert_array_equal(scores["e/E"], [0, 0.25, 0.25, 0.75, 0.75, 0, 0])


def test_two_required_rules(tmp_path):
    text = """\
    name: req
    windows: [30]
    scores:
      - name: q
        rules:
          - id: X
            feature: out_count_30d
            bands: [{min: 3, score: 1}]
            required: true
          - id: Y
            feature: in_count_30d
            bands: [{min: 2, score: 0.5}]
            required: true
          - id: Z
            when: night_share_30d > 0.8
            weight: 2
    """
    rs = load_rules(write(tmp_path, text))
    _, _, typology = rs.evaluate(FEATURES)
    # X: 0 0 0 1 1; Y: 0 .5 .5 .5 0; Z: 1 0 0 0 1; mean (X + Y + 2Z) / 4
    # only account 4 has both required rules above 0: (1 + 0.5 + 0) / 4
    np.testing.assert_allclose(typology["q"], [0, 0, 0, 0.375, 0])


# --- a tiny hand-made world for `payments` rules --------------------------------------------

T = pd.Timestamp("2025-03-01 00:00:00", tz="UTC")  # the cutoff
DAY, HOUR, SEC = pd.Timedelta(days=1), pd.Timedelta(hours=1), pd.Timedelta(seconds=1)
FX = {"NOK": 0.1, "PHP": 0.02, "GBP": 1.2}  # -> base currency

# account: (party, bank, country, currency, kind)
A, R, P, G, V = 1, 2, 3, 4, 5
ACCOUNTS = {
    A: (1, "NOB", "NO", "NOK", "current"),  # the sender, in Norway (UTC+1)
    R: (2, "PHB", "PH", "PHP", "wallet"),  # A's relative in the Philippines (same household)
    P: (3, "PHB", "PH", "PHP", "current"),  # an unrelated payee in PH (high risk, UTC+8)
    G: (4, "GBM", "GB", "GBP", "current"),  # in the UK (UTC+0, low risk)
    V: (5, "GBM", "GB", "GBP", "merchant"),  # a VPN seller
}


def make_dataset(rows, as_of=T) -> Dataset:
    """Rows (ts, src, dst, amount in the payer's currency, channel); the rest follows."""
    rows = sorted(rows, key=lambda r: r[0])
    tx = []
    for i, (ts, src, dst, amount, channel) in enumerate(rows):
        _, sbank, scountry, currency, _ = ACCOUNTS[src]
        _, dbank, dcountry, _, _ = ACCOUNTS[dst]
        tx.append({"txn_id": 100 + i, "ts": ts, "src_account": src, "dst_account": dst,
                   "src_bank": sbank, "dst_bank": dbank, "src_country": scountry,
                   "dst_country": dcountry, "amount": float(amount), "currency": currency,
                   "amount_base": float(amount) * FX[currency], "channel": channel,
                   "reference": ""})
    transactions = pd.DataFrame(tx)
    transactions["ts"] = pd.to_datetime(transactions["ts"], utc=True)
    for col in ("txn_id", "src_account", "dst_account"):
        transactions[col] = transactions[col].astype(np.int64)
    ids = sorted(ACCOUNTS)
    cols = list(zip(*(ACCOUNTS[i] for i in ids)))
    return Dataset(
        countries=pd.DataFrame({
            "country": ["NO", "PH", "GB"], "name": ["Norway", "Philippines", "United Kingdom"],
            "currency": ["NOK", "PHP", "GBP"],
            "utc_offset": np.array([1.0, 8.0, 0.0], np.float32),
            "risk": ["low", "high", "low"]}),
        banks=pd.DataFrame({"bank_id": ["NOB", "PHB", "GBM"], "name": ["N", "P", "G"],
                            "country": ["NO", "PH", "GB"], "kind": ["bank"] * 3}),
        parties=pd.DataFrame({
            "party_id": np.array([1, 2, 3, 4, 5], np.int64),
            "kind": ["person"] * 4 + ["business"], "name": ["a", "r", "p", "g", "v"],
            "country": ["NO", "PH", "PH", "GB", "GB"],
            "household_id": np.array([100, 100, 300, 400, 500], np.int64),
            "sector": ["household"] * 4 + ["software_vpn"]}),
        accounts=pd.DataFrame({
            "account_id": np.array(ids, np.int64), "party_id": np.array(cols[0], np.int64),
            "bank_id": list(cols[1]), "country": list(cols[2]), "currency": list(cols[3]),
            "kind": list(cols[4]),
            "opened_at": pd.to_datetime(["2020-01-01"] * len(ids), utc=True)}),
        transactions=transactions,
        manifest={"as_of": as_of.isoformat()},
    )


# hours are UTC; NO is UTC+1, PH UTC+8, GB UTC+0; night is 22:00-06:00 in the payer's country.
# high risk = to PH and cross-border. base = amount * FX[payer currency]
PAYMENT_ROWS = [
    # g0b: 1 s before the 30-day window; GB 23:59:59 night; to PH; base 120
    (T - 30 * DAY - SEC, G, P, 100, "remittance"),
    # g0: exactly at the start of the 30-day window (counts); GB 00:00 night; base 120
    (T - 30 * DAY, G, P, 100, "remittance"),
    # t1: 40 days ago (only in 90-day windows); NO 13:00; to PH; base 100
    (T - 40 * DAY + 12 * HOUR, A, P, 1000, "remittance"),
    # t2: UTC 21:30 = NO 22:30 -> night only in local time; to PH; base 50
    (T - 10 * DAY + 21.5 * HOUR, A, P, 500, "remittance"),
    # t3: UTC 21:00 = NO 22:00 -> night (22:00 inclusive); to the relative in PH; base 200
    (T - 5 * DAY + 21 * HOUR, A, R, 2000, "remittance"),
    # t4: UTC 05:00 = NO 06:00 -> not night (06:00 exclusive), although night in UTC; base 30
    (T - 3 * DAY + 5 * HOUR, A, P, 300, "crypto"),
    # t5: NO 13:00; to GB (low risk, cross-border); base 100
    (T - 2 * DAY + 12 * HOUR, A, G, 1000, "transfer"),
    # t6: UTC 23:00 = NO 00:00 night; to GB (not high risk); base 25
    (T - HOUR, A, G, 250, "p2p_app"),
    # t7: P pays A (incoming for A); PH 20:00; to NO (low risk); base 100
    (T - 4 * DAY + 12 * HOUR, P, A, 5000, "remittance"),
    # t8: P pays R inside PH (not cross-border, so not high risk); PH 23:00 night; base 20
    (T - 2 * DAY + 15 * HOUR, P, R, 1000, "p2p_app"),
    # t9: A buys from the VPN seller; NO 11:00; base 5
    (T - DAY + 10 * HOUR, A, V, 50, "card"),
    # t10: exactly at the cutoff: the future, never counted
    (T, A, P, 9999, "crypto"),
]

PAYMENT_RULES = """\
name: pay
windows: [30]
scores:
  - name: p
    rules:
      - id: HR30
        payments: high_risk
        days: 30
        bands: [{min: 1, max: 3, score: 0.5}, {min: 3, score: 1}]
      - id: HR90
        payments: high_risk
        bands: [{min: 1, score: 1}]
      - id: NIGHT
        payments: high_risk and night
        days: 30
        bands: [{min: 1, score: 1}]
      - id: NIGHTALL
        payments: night
        days: 30
        bands: [{min: 1, score: 1}]
      - id: CH
        payments: channel in ("remittance", "crypto")
        days: 30
        bands: [{min: 1, score: 1}]
      - id: NOTCH
        payments: channel not in ("remittance", "crypto")
        days: 30
        bands: [{min: 1, score: 1}]
      - id: CASH
        payments: channel == "cash"
        days: 90
        bands: [{min: 1, score: 1}]
      - id: REL
        payments: related
        days: 90
        bands: [{min: 1, score: 1}]
      - id: UNREL
        payments: high_risk and not related
        days: 30
        bands: [{min: 1, score: 1}]
      - id: SUM
        payments: high_risk
        days: 30
        measure: sum
        bands: [{min: 250, score: 1}]
      - id: SECT
        payments: payee_sector == "software_vpn"
        days: 30
        bands: [{min: 1, score: 1}]
      - id: AMT
        payments: amount >= 100 and cross_border
        days: 90
        bands: [{min: 2, score: 1}]
      - id: DAYS1
        payments: high_risk or not high_risk
        days: 1
        bands: [{min: 1, score: 1}]
"""

# expected values per account [A, R, P, G, V]
PAYMENT_VALUES = {
    "HR30": [3, 0, 0, 1, 0],  # A: t2 t3 t4 (t1 too old); G: g0 (g0b 1 s too old)
    "HR90": [4, 0, 0, 2, 0],  # days defaults to 90: A: t1..t4; G: g0b g0
    "NIGHT": [2, 0, 0, 1, 0],  # A: t2 t3 (not t4: 06:00 local); G: g0
    "NIGHTALL": [3, 0, 1, 1, 0],  # A: t2 t3 t6; P: t8; G: g0
    "CH": [3, 0, 1, 1, 0],  # A: t2 t3 (remittance) t4 (crypto); P: t7; G: g0
    "NOTCH": [3, 0, 1, 0, 0],  # A: t5 t6 t9; P: t8
    "CASH": [0, 0, 0, 0, 0],
    "REL": [1, 0, 0, 0, 0],  # A: t3 to the relative; P -> R is not family
    "UNREL": [2, 0, 0, 1, 0],  # A: t2 t4; G: g0
    "SUM": [280, 0, 0, 120, 0],  # A: 50 + 200 + 30; G: 120
    "SECT": [1, 0, 0, 0, 0],  # A: t9
    "AMT": [3, 0, 1, 2, 0],  # A: t1 (100) t3 (200) t5 (100); P: t7 (100); G: g0b g0 (120)
    "DAYS1": [2, 0, 0, 0, 0],  # the last day: A: t6 t9
}


@pytest.fixture(scope="module")
def pay_ds() -> Dataset:
    return make_dataset(PAYMENT_ROWS)


@pytest.fixture(scope="module")
def pay_ledger(pay_ds):
    return build_ledger(pay_ds, T)


@pytest.fixture(scope="module")
def pay_rules(tmp_path_factory):
    return load_rules(write(tmp_path_factory.mktemp("pay"), PAYMENT_RULES))


def test_hand_made_world_is_sound(pay_ds, pay_ledger):
    assert pay_ds.validate() == []
    assert list(pay_ledger.account_id) == [A, R, P, G, V]
    assert pay_ledger.t.size == len(PAYMENT_ROWS) - 1  # the row at the cutoff is left out


def test_payment_columns(pay_ledger):
    cols = payment_columns(pay_ledger)
    assert set(cols) == set(PAYMENT_FIELDS)
    for v in cols.values():
        assert len(v) == pay_ledger.t.size
    # night is in the payer's local time: by row time (ledger order)
    order = sorted(PAYMENT_ROWS[:-1], key=lambda r: r[0])
    expected_night = {
        T - 30 * DAY - SEC: True, T - 30 * DAY: True, T - 40 * DAY + 12 * HOUR: False,
        T - 10 * DAY + 21.5 * HOUR: True, T - 5 * DAY + 21 * HOUR: True,
        T - 3 * DAY + 5 * HOUR: False, T - 2 * DAY + 12 * HOUR: False, T - HOUR: True,
        T - 4 * DAY + 12 * HOUR: False, T - 2 * DAY + 15 * HOUR: True,
        T - DAY + 10 * HOUR: False,
    }
    np.testing.assert_array_equal(cols["night"], [expected_night[r[0]] for r in order])
    # even: a whole multiple of 5 in the payment's currency (all rows here are)
    assert cols["even"].all()


def test_payments_rules_count_outgoing_in_window(pay_rules, pay_ledger):
    feats = pd.DataFrame(index=pd.Index(pay_ledger.account_id, name="account_id"))
    values, scores, typology = pay_rules.evaluate(feats, pay_ledger)
    for rid, expected in PAYMENT_VALUES.items():
        np.testing.assert_allclose(values[f"p/{rid}"], expected, err_msg=rid)
    np.testing.assert_array_equal(scores["p/HR30"], [1, 0, 0, 0.5, 0])
    np.testing.assert_array_equal(scores["p/SUM"], [1, 0, 0, 0, 0])  # 280 >= 250; 120 not
    np.testing.assert_array_equal(scores["p/AMT"], [1, 0, 0, 1, 0])
    # typology: plain mean of 13 rules (weights 1); A fires all but CASH
    a_scores = {"HR30": 1, "HR90": 1, "NIGHT": 1, "NIGHTALL": 1, "CH": 1, "NOTCH": 1,
                "CASH": 0, "REL": 1, "UNREL": 1, "SUM": 1, "SECT": 1, "AMT": 1, "DAYS1": 1}
    assert typology.loc[A, "p"] == pytest.approx(sum(a_scores.values()) / 13)
    # G: HR30 .5, HR90 1, NIGHT 1, NIGHTALL 1, CH 1, UNREL 1, AMT 1
    assert typology.loc[G, "p"] == pytest.approx(6.5 / 13)
    # P: NIGHTALL, CH, NOTCH
    assert typology.loc[P, "p"] == pytest.approx(3 / 13)
    assert typology.loc[R, "p"] == 0 and typology.loc[V, "p"] == 0


def test_payments_rules_with_features_of_the_ledger(pay_rules, pay_ds, pay_ledger):
    # the usual pairing: features of the same dataset and cutoff (index = account ids)
    feats = account_features(pay_ds, as_of=T, windows=(30,))
    values, _, _ = pay_rules.evaluate(feats, pay_ledger)
    assert list(values.index) == [A, R, P, G, V]
    np.testing.assert_allclose(values["p/HR30"], PAYMENT_VALUES["HR30"])
    # the feature of the same name agrees with the payments rule
    np.testing.assert_allclose(feats["high_risk_count_30d"], PAYMENT_VALUES["HR30"])


def test_payee_sector_unknown_to_the_ledger_matches_nothing(tmp_path, pay_ledger):
    text = """\
    name: sect
    windows: [30]
    scores:
      - name: x
        rules:
          - id: S
            payments: payee_sector in ("webcam", "travel")
            bands: [{min: 1, score: 1}]
    """
    rs = load_rules(write(tmp_path, text))
    values, _, _ = rs.evaluate(pd.DataFrame(index=pay_ledger.account_id), pay_ledger)
    np.testing.assert_array_equal(values["x/S"], [0, 0, 0, 0, 0])


# --- conditions and field names in error messages -------------------------------------------


def test_when_rule_must_be_a_test(tmp_path):
    text = """\
    name: w
    windows: [30]
    scores:
      - name: x
        rules:
          - id: W
            when: out_count_30d
    """
    # a bare value would score that value rather than 0/1: refused when the file loads
    with pytest.raises(InputError, match=r":7: scores\[0\]\.rules\[0\]\.when \(W\): .*must be a test"):
        load_rules(write(tmp_path, text))


@pytest.mark.parametrize("old, new, field", [
    ("feature: out_count_30d", 'feature: ""', "scores[0].rules[0].feature (R1)"),
    ("when: in_count_30d >= 2", 'when: ""', "scores[0].rules[1].when (R2)"),
])
def test_empty_field_is_named(tmp_path, old, new, field):
    path = variant(tmp_path, old, new)
    line = 9 if "feature" in old else 12
    with pytest.raises(InputError, match=re.escape(f"{path}:{line}: {field}")):
        load_rules(path)


# =============================================================================================
# 4. check_rules
# =============================================================================================


def labels_for(rows) -> Labels:
    la = pd.DataFrame(rows, columns=["account_id", "role", "typology", "case_id"])
    la["account_id"] = la["account_id"].astype(np.int64)
    la["case_id"] = la["case_id"].astype("Int64")
    return Labels(transactions=empty_table(TRANSACTION_LABELS), accounts=la,
                  cases=empty_table(CASE_LABELS))


LABELS = labels_for([
    (2, "sender", "fan_in", 1),
    (4, "collector", "fan_in", 1),
    (5, "smurf", "structuring", 2),
    (3, "look_alike", "fan_in", None),  # a look-alike: no case, never suspicious
])


def test_check_rules_with_labels(scoring):
    table = check_rules(scoring, FEATURES, None, LABELS).set_index("rule")
    assert list(table.index) == [
        "s/B", "s/W", "s >= review", "s >= alert",
        "r/N", "r/B2", "r >= review", "r >= alert",
        "o/O", "o >= review", "o >= alert"]
    # suspicious accounts: 2, 4, 5; fan_in targets: 2, 4; structuring target: 5
    expected = {
        # rule: (hits, precision, recall, target accounts)
        "s/B": (4, 0.75, 1.0, 2),  # hits 2 3 4 5
        "s/W": (2, 1.0, 1.0, 2),  # hits 2 4
        "s >= review": (3, 1.0, 1.0, 2),  # s = 0 .625 .375 1 .75 -> 2 4 5
        "s >= alert": (1, 1.0, 0.5, 2),  # 4
        "r/N": (3, 0.667, 1.0, 1),  # 1 4 5
        "r/B2": (4, 0.75, 1.0, 1),  # 2 3 4 5
        "r >= review": (3, 0.667, 1.0, 1),  # r = .5 0 0 1 1: 0.5 is at the threshold
        "r >= alert": (2, 1.0, 1.0, 1),  # 4 5
        "o/O": (5, 0.6, None, 0),  # every account; no typology, so no recall
        "o >= review": (1, 1.0, None, 0),  # o = .3 .2 .2 .9 .2 against the default 0.5
        "o >= alert": (1, 1.0, None, 0),  # default alert 0.7
    }
    for rule, (hits, precision, recall, targets) in expected.items():
        row = table.loc[rule]
        assert row["hits"] == hits, rule
        assert row["precision"] == pytest.approx(precision), rule
        if recall is None:
            assert pd.isna(row["recall"]), rule
        else:
            assert row["recall"] == pytest.approx(recall), rule
        assert row["target_accounts"] == targets, rule
    assert table.loc["s >= review", "description"] == "weighted score at or above 0.5"


def test_check_rules_without_labels(scoring):
    table = check_rules(scoring, FEATURES)
    assert list(table.columns) == ["rule", "description", "hits"]
    assert table.set_index("rule")["hits"].to_dict() == {
        "s/B": 4, "s/W": 2, "s >= review": 3, "s >= alert": 1,
        "r/N": 3, "r/B2": 4, "r >= review": 3, "r >= alert": 2,
        "o/O": 5, "o >= review": 1, "o >= alert": 1}


def test_check_rules_no_hits_gives_no_precision(tmp_path):
    text = """\
    name: none
    windows: [30]
    scores:
      - name: n
        typology: fan_in
        rules:
          - id: X
            feature: out_count_30d
            bands: [{min: 100, score: 1}]
    """
    table = check_rules(load_rules(write(tmp_path, text)), FEATURES, None,
                        LABELS).set_index("rule")
    assert table.loc["n/X", "hits"] == 0
    assert pd.isna(table.loc["n/X", "precision"])
    assert table.loc["n/X", "recall"] == 0


# =============================================================================================
# 5. the `rules` detector
# =============================================================================================


def test_detector_defaults_load_both_shipped_files():
    det = make_detector("rules")
    assert det.params.files == ["ocse", "classic"]
    assert [rs.spec.name for rs in det.rule_sets()] == ["ocse", "classic"]
    with pytest.raises(InputError):
        make_detector("rules", {"file": ["ocse"]})


def test_detector_score_on_tiny_dataset(tiny_dataset):
    data = tiny_dataset.without_labels()
    det = make_detector("rules").fit(tiny_dataset)
    got = det.score(data)
    lg = build_ledger(data)
    parts = []
    for name in ("ocse", "classic"):
        rs = load_rules(name)
        feats = account_features(data, windows=rs.spec.windows)
        parts.append(rs.evaluate(feats, lg)[2])
    typology = pd.concat(parts, axis=1)
    assert list(typology.columns) == ["ocse_sender", "ocse_facilitator", "fan_in", "fan_out",
                                      "structuring", "pass_through"]
    expected = typology.max(axis=1) + 0.001 * typology.mean(axis=1)
    assert got.name == "rules"
    assert got.index.equals(expected.index)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    assert (got > 0).any()
    assert got.between(0, 1.001).all()

    # explain: only rules that fired, weight = rule score x rule weight
    top = got.nlargest(5).index
    expl = det.explain(data, top)
    values, scores, _ = det.evaluate(data)
    weights = {r.key: r.spec.weight for rs in det.rule_sets() for r in rs.rules}
    fired = {(i, k) for i in top for k in scores.columns if scores.loc[i, k] > 0}
    assert {(int(i), r) for i, r in zip(expl["id"], expl["reason"], strict=True)} == fired
    assert fired
    for row in expl.itertuples():
        assert row.weight == pytest.approx(scores.loc[row.id, row.reason] * weights[row.reason])
        assert row.value == pytest.approx(values.loc[row.id, row.reason])


DETECTOR_RULES = """\
name: det
windows: [30]
scores:
  - name: x
    rules:
      - id: HR30
        payments: high_risk
        days: 30
        bands: [{min: 1, max: 3, score: 0.5}, {min: 3, score: 1}]
        weight: 2
      - id: CH
        payments: channel in ("remittance", "crypto")
        days: 30
        bands: [{min: 1, score: 1}]
  - name: y
    rules:
      - id: SECT
        payments: payee_sector == "software_vpn"
        days: 30
        bands: [{min: 1, score: 0.4}]
"""


def test_detector_on_hand_made_world(tmp_path, pay_ds):
    path = write(tmp_path, DETECTOR_RULES)
    det = make_detector("rules", {"files": [str(path)]}).fit(pay_ds)
    got = det.score(pay_ds)
    # HR30 scores 1 0 0 .5 0 (weight 2); CH values 3 0 1 1 0 -> 1 0 1 1 0
    # x = (2 HR30 + CH) / 3 = 1, 0, 1/3, 2/3, 0; y = SECT = .4 0 0 0 0
    x = np.array([1, 0, 1 / 3, 2 / 3, 0])
    y = np.array([0.4, 0, 0, 0, 0])
    expected = np.maximum(x, y) + 0.001 * (x + y) / 2
    assert list(got.index) == [A, R, P, G, V]
    np.testing.assert_allclose(got.to_numpy(), expected)

    expl = det.explain(pay_ds, [A, R, P])
    # sorted by id, then weight (largest first); R fired nothing
    assert list(expl["id"]) == [A, A, A, P]
    assert list(expl["reason"]) == ["x/HR30", "x/CH", "y/SECT", "x/CH"]
    np.testing.assert_allclose(expl["weight"], [2.0, 1.0, 0.4, 1.0])
    np.testing.assert_allclose(expl["value"], [3, 3, 1, 1])


def test_detector_needs_fit(pay_ds):
    with pytest.raises(InputError, match="fit"):
        make_detector("rules").score(pay_ds)


def test_detector_bad_file_fails_at_fit(tmp_path, pay_ds):
    path = variant(tmp_path, "alert: 0.7", "alert: 0.3")
    det = make_detector("rules", {"files": [str(path)]})
    with pytest.raises(InputError, match=re.escape(f"{path}:4: scores[0]")):
        det.fit(pay_ds)


# =============================================================================================
# 6. the CLI
# =============================================================================================


def invoke(*args, columns: int = 200):
    """Run the CLI in-process, its console `columns` wide (rich reads COLUMNS)."""
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"finlab {' '.join(map(str, args))} crashed") from result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result


def ocse_keys() -> list[str]:
    return [r.key for r in load_rules("ocse").rules]


def test_cli_rules_check_shipped(tiny_dataset_dir):
    result = invoke("rules", "check", "ocse", tiny_dataset_dir)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert str(shipped_path("ocse")) in result.stdout
    for key in [*ocse_keys(), "ocse_sender >= review", "ocse_facilitator >= alert"]:
        assert key in result.stdout, key


def test_cli_rules_check_prints_rule_ids_at_80_columns(tiny_dataset_dir):
    result = invoke("rules", "check", "ocse", tiny_dataset_dir, columns=80)
    assert result.exit_code == 0, result.stderr
    for key in ocse_keys():
        assert key in result.stdout, key


def test_cli_rules_check_json(tiny_dataset_dir):
    result = invoke("rules", "check", "classic", tiny_dataset_dir, "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and rows
    for row in rows:
        assert {"rule", "hits", "precision", "recall"} <= set(row)
        assert isinstance(row["hits"], int) and row["hits"] >= 0
    rules = [row["rule"] for row in rows]
    assert rules[:6] == ["fan_in/FI1", "fan_in/FI2", "fan_in/FI3", "fan_in/FI4",
                         "fan_in >= review", "fan_in >= alert"]
    assert len(rules) == 15 + 2 * 4  # 4 + 4 + 3 + 4 rules, review and alert of 4 scores


def test_cli_rules_check_bad_file(tmp_path, tiny_dataset_dir):
    path = variant(tmp_path, "when: in_count_30d >= 2", "when: in_count_30d >= >= 2",
                   name="BAD.yaml")
    result = invoke("rules", "check", path, tiny_dataset_dir)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "BAD.yaml:12: scores[0].rules[1].when (R2): syntax error" in lines[0]
    assert result.stdout == ""


def test_cli_rules_check_missing_file(tmp_path, tiny_dataset_dir):
    result = invoke("rules", "check", tmp_path / "nope.yaml", tiny_dataset_dir)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: no such file"


def test_cli_detect_with_a_bad_rule_file(tmp_path, tiny_dataset_dir):
    bad = variant(tmp_path, "feature: out_count_30d", "feature: out_count_90d", name="BAD.yaml")
    params = write(tmp_path, f"files: ['{bad}']\n", "params.yaml")
    out = tmp_path / "scores.parquet"
    result = invoke("detect", tiny_dataset_dir, "--detector", "rules", "--params", params,
                    "--out", out)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "BAD.yaml:9: scores[0].rules[0].feature (R1): unknown feature" in lines[0]
    assert not out.exists()
