"""Cooperation simulation: what each party's view hides, STRs under review capacity, feedback that
never arrives early, the FIU's investigation, offenders switching corridor, determinism and
privacy, the experiment file and `finlab cooperate` end to end.

Runs share one `Simulation` on the tiny world (rules detector, OCSE rule file, a filing every
7 days: two filings), so the banks' scores are computed once for the whole module."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from finlab.cooperation import feedback as fb
from finlab.cooperation.experiment import swept
from finlab.cooperation.measure import HEADLINE, level_metrics
from finlab.cooperation.simulate import LEVEL_NAMES, Settings, Simulation
from finlab.cooperation.str_flow import str_transactions
from finlab.cooperation.views import bank_view, customers, fiu_view, pooled_view, register_rows

runner = CliRunner()
DETECTOR, PARAMS = "rules", {"files": ["ocse"]}
BASE = {"period_days": 7, "review_capacity": 3, "feedback": {"delay_days": 7, "recall": 1.0}}
NEVER = 365.0  # days: longer than the whole filing window
# the FIU's analysis of the first filing ends just after the last one (the detector still scores
# it: a year later nothing would be recent enough for its rules)
LATE = BASE["period_days"] + 1.0


class Runs:
    """One simulation for the module; each (level, settings) runs once."""

    def __init__(self, world):
        self.world = world
        self.sim = Simulation(world, DETECTOR, PARAMS, seed=0)
        self._done: dict = {}

    def settings(self, **changes) -> Settings:
        """BASE with dotted settings changed (feedback__delay_days -> feedback.delay_days)."""
        s = Settings.model_validate(BASE)
        for key, value in changes.items():
            s = swept(s, key.replace("__", "."), value)
        return s

    def run(self, level: str, **changes):
        s = self.settings(**changes)
        key = (level, s.model_dump_json())
        if key not in self._done:
            self._done[key] = self.sim.run(level, s)
        return self._done[key]

    def checkpoints(self, **changes) -> list[pd.Timestamp]:
        return self.sim.checkpoints(self.settings(**changes))

    def recall(self, run, **changes) -> float:
        s = self.settings(**changes)
        return level_metrics(run, self.sim.warmup_end(s), self.sim.checkpoints(s)[-1])[
            "offender_recall"]


@pytest.fixture(scope="module")
def runs(tiny_dataset) -> Runs:
    return Runs(tiny_dataset)


def integers(view) -> set[int]:
    """Every integer in the view's tables (ids of accounts, parties, households, labels)."""
    tables = [view.transactions, view.accounts, view.parties]
    if view.labels is not None and view.labels.observed is not None:
        tables.append(view.labels.observed)
    out: set[int] = set()
    for t in tables:
        for col in t.columns:
            if pd.api.types.is_integer_dtype(t[col]):
                out |= set(t[col].to_numpy(np.int64).tolist())
    return out


def txn_ids(frame) -> set[int]:
    return set(frame["txn_id"].to_numpy(np.int64).tolist())


def fiu_rows(ds, strs, country: str, as_of, lookback: float) -> pd.Series:
    """What a national FIU should see: the transactions behind its own country's STRs and its
    cross-border register, before `as_of` (True per row of ds.transactions)."""
    own = str_transactions(ds, strs[strs["country"] == country], lookback)["txn_id"]
    tx = ds.transactions
    return (tx["txn_id"].isin(own) | register_rows(ds, [country])) & (tx["ts"] < as_of)


def assert_same_strs(a, b) -> None:
    pd.testing.assert_frame_equal(a.strs.reset_index(drop=True), b.strs.reset_index(drop=True))


# ---- 1. a bank's view -------------------------------------------------------------------------


def test_bank_view_hides_what_the_bank_cannot_see(tiny_dataset):
    ds = tiny_dataset
    tx = ds.transactions
    bank = str(pd.concat([tx["src_bank"].astype(str), tx["dst_bank"].astype(str)])
               .value_counts().index[0])
    touching = (tx["src_bank"].astype(str) == bank) | (tx["dst_bank"].astype(str) == bank)
    # cut exactly at one of the bank's own transactions: that one is already "the future"
    as_of = tx.loc[touching, "ts"].sort_values().iloc[int(touching.sum()) // 2]
    first_flag, late_flag = customers(ds, bank)[:2]
    flags = pd.DataFrame({"account_id": [first_flag, late_flag],
                          "flagged_at": [as_of - pd.Timedelta(days=1), as_of]})
    view = bank_view(ds, bank, as_of, flags=flags)
    vt = view.transactions

    assert ((vt["src_bank"].astype(str) == bank) | (vt["dst_bank"].astype(str) == bank)).all()
    assert txn_ids(vt) == txn_ids(tx[touching & (tx["ts"] < as_of)])
    assert (vt["ts"] < as_of).all() and (tx.loc[touching, "ts"] == as_of).any()

    mine = set(customers(ds, bank))
    acc = view.accounts.set_index("account_id")
    truth = ds.accounts.set_index("account_id")
    kind = ds.parties.set_index("party_id")["kind"].astype(str)
    assert mine <= set(acc.index)  # customers without payments before as_of too
    assert (acc.loc[list(mine), "party_id"] == truth.loc[list(mine), "party_id"]).all()
    others = acc.index[~acc.index.isin(list(mine))]
    persons = others[(kind.reindex(truth.loc[others, "party_id"]) == "person").to_numpy()]
    businesses = others.difference(persons)
    assert len(persons) and len(businesses)
    assert (acc.loc[persons, "party_id"] == -1).all()
    assert (acc.loc[persons, "kind"] == "unknown").all()
    assert (acc.loc[businesses, "party_id"] == truth.loc[businesses, "party_id"]).all()
    assert -1 not in set(view.parties["party_id"])  # an unknown owner has no household
    # the persons it knows are its customers' owners, never a counterparty's
    known_persons = set(view.parties.loc[view.parties["kind"].astype(str) == "person",
                                         "party_id"])
    assert known_persons <= set(truth.loc[list(mine), "party_id"])
    # a hidden account was "opened" when the bank first saw it, not when it really was
    first_seen = pd.concat([vt[["src_account", "ts"]].set_axis(["a", "ts"], axis=1),
                            vt[["dst_account", "ts"]].set_axis(["a", "ts"], axis=1)]
                           ).groupby("a")["ts"].min()
    pd.testing.assert_series_equal(acc.loc[persons, "opened_at"], first_seen.reindex(persons),
                                   check_names=False, check_index=False)
    # the truth never reaches a view; its own flags do, once raised
    assert view.labels.transactions.empty and view.labels.accounts.empty
    assert list(view.labels.observed["account_id"]) == [first_flag]


# ---- 2. FIU and pooled views ------------------------------------------------------------------


def test_fiu_view_holds_its_strs_and_register_only(runs):
    ds = runs.world
    strs = runs.run("L0").strs
    country = strs["country"].value_counts().index[0]
    own = strs[strs["country"] == country]
    assert len(own) and (strs["country"] != country).any()
    as_of = runs.checkpoints()[-1] + pd.Timedelta(days=1)
    lookback = runs.settings().str_lookback_days
    own_txns = pd.Index(str_transactions(ds, own, lookback)["txn_id"].unique())
    view = fiu_view(ds, country, strs, own_txns, as_of)
    expected = fiu_rows(ds, strs, country, as_of, lookback)
    assert txn_ids(view.transactions) == txn_ids(ds.transactions[expected])
    vt = view.transactions
    extra = vt[~vt["txn_id"].isin(own_txns)]
    assert len(extra)
    assert (extra["src_country"].astype(str) != extra["dst_country"].astype(str)).all()
    assert (extra["src_country"].astype(str).eq(country)
            | extra["dst_country"].astype(str).eq(country)).all()
    subjects = set(own["account_id"])
    assert set(view.labels.observed["account_id"]) == subjects
    assert not set(view.labels.observed["account_id"]) & set(strs.loc[
        strs["country"] != country, "account_id"])

    tokens = fb.pseudonymiser("test-key")
    hidden = fiu_view(ds, country, strs, own_txns, as_of, tokens=tokens)
    raw = set(ds.accounts["account_id"])
    assert integers(hidden) & raw <= subjects
    assert set(hidden.accounts["account_id"]) & raw == subjects
    # the same rows, each id either a subject or its token
    src = view.transactions["src_account"].to_numpy(np.int64)
    expect = np.where(np.isin(src, list(subjects)), src, tokens(src))
    np.testing.assert_array_equal(hidden.transactions["src_account"].to_numpy(np.int64), expect)


def test_pooled_view_with_tokens_holds_no_raw_account_id(runs):
    ds = runs.world
    as_of = runs.checkpoints()[-1]
    banks = ds.banks["bank_id"].astype(str)
    tokens = fb.pseudonymiser("test-key")
    flags = pd.DataFrame({"account_id": ds.accounts["account_id"][:5],
                          "flagged_at": as_of - pd.Timedelta(days=1)})
    plain = pooled_view(ds, banks, as_of, flags=flags)
    hidden = pooled_view(ds, banks, as_of, flags=flags, tokens=tokens)
    assert not integers(hidden) & set(ds.accounts["account_id"])
    assert len(hidden.transactions) == len(plain.transactions) > 0
    np.testing.assert_array_equal(hidden.transactions["dst_account"].to_numpy(np.int64),
                                  tokens(plain.transactions["dst_account"]))
    assert set(hidden.labels.observed["account_id"]) == set(tokens(flags["account_id"]))


def test_national_fiu_sees_only_its_own_strs_transactions(runs):
    run = runs.run("L2", fiu__analysis_days=LATE)
    at = runs.checkpoints()[-1] + pd.Timedelta(days=LATE)  # the last analysis
    lookback = runs.settings().str_lookback_days
    for country, seen in run.seen["fiu"].items():
        expected = fiu_rows(run.world, run.strs, country, at, lookback)
        assert seen["transactions"] == int(expected.sum()), country


# ---- 3. feedback never arrives early ----------------------------------------------------------


def test_lists_arrive_after_the_delay_and_follow_from_a_filing(runs):
    run = runs.run("L1")
    delay = pd.Timedelta(days=BASE["feedback"]["delay_days"])
    assert len(run.listed)
    filings = set(run.strs["filed_at"])
    for account, arrives in run.listed.itertuples(index=False):
        cause = arrives - delay
        assert cause in filings, (account, arrives)
        behind = str_transactions(run.world, run.strs[run.strs["filed_at"] == cause],
                                  runs.settings().str_lookback_days)
        assert account in set(behind["counterparty"]), account
    assert (run.listed["arrives_at"] >= min(filings) + delay).all()
    # nothing can have arrived at the first filing: it is L0's
    first = runs.checkpoints()[0]
    l0 = runs.run("L0").strs
    pd.testing.assert_frame_equal(run.strs[run.strs["filed_at"] == first].reset_index(drop=True),
                                  l0[l0["filed_at"] == first].reset_index(drop=True))


def test_feedback_that_has_not_arrived_changes_nothing(runs):
    late = {"feedback__delay_days": NEVER, "feedback__keywords": False}
    on_time = runs.run("L1", feedback__keywords=False)
    assert not on_time.strs.equals(runs.run("L0").strs)  # lists that arrive do change STRs
    l1 = runs.run("L1", **late)
    assert l1.seen["lists_sent"] > 0  # lists were made, they are just still on their way
    assert (l1.listed["arrives_at"] > runs.checkpoints()[-1]).all()
    assert_same_strs(l1, runs.run("L0", **late))


def test_fiu_analysis_that_has_not_arrived_changes_nothing(runs):
    assert not runs.run("L2").strs.equals(runs.run("L1").strs)  # on time, they change STRs
    l2 = runs.run("L2", fiu__analysis_days=LATE)
    assert l2.seen["disseminated"] > 0  # the FIUs did send accounts, too late to count
    l1 = runs.run("L1", fiu__analysis_days=LATE)
    assert len(l1.listed)  # L1's own lists do arrive and are the same at L2
    assert_same_strs(l2, l1)


# ---- 4. review capacity -----------------------------------------------------------------------


@pytest.mark.parametrize(("level", "capacity"), [("L0", 1), ("L0", 3), ("L1", 3), ("L4", 3)])
def test_strs_respect_capacity_and_the_banks_own_customers(runs, level, capacity):
    run = runs.run(level, review_capacity=capacity)
    strs = run.strs
    per_filing = strs.groupby(["bank_id", "filed_at"]).size()
    assert per_filing.max() == capacity  # reached, never passed
    assert strs["account_id"].is_unique
    holder = run.world.accounts.set_index("account_id")
    assert (holder.loc[strs["account_id"], "bank_id"].astype(str).to_numpy()
            == strs["bank_id"].to_numpy()).all()
    country = runs.sim.banks.set_index("bank_id")["country"]
    assert (country.reindex(strs["bank_id"]).to_numpy() == strs["country"].to_numpy()).all()
    assert set(strs["filed_at"]) <= set(runs.checkpoints())


def test_more_capacity_files_on_the_same_top_accounts(runs):
    first = runs.checkpoints()[0]
    one, three = (runs.run("L0", review_capacity=c).strs for c in (1, 3))
    one, three = (s.loc[s["filed_at"] == first, "account_id"] for s in (one, three))
    assert len(three) > len(one) > 0
    assert set(one) <= set(three)


# ---- 5. the FIU's investigation ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ocse_str_txns(tiny_dataset):
    """The transactions behind STRs on every OCSE sender, filed after the last payment."""
    ds = tiny_dataset
    off = fb.offenders(ds.labels)
    senders = off.loc[off["side"] == "sender", "account_id"]
    strs = pd.DataFrame({"account_id": senders,
                         "filed_at": ds.transactions["ts"].max() + pd.Timedelta(days=1)})
    return str_transactions(ds, strs, lookback_days=NEVER)


def test_investigation_recall_noise_and_nesting(tiny_dataset, ocse_str_txns):
    labels = tiny_dataset.labels

    def find(recall, noise=0.0, already=()):
        return set(fb.investigate(ocse_str_txns, labels, recall=recall, noise=noise, seed=3,
                                  already=pd.Index(list(already), dtype=np.int64)))

    off = fb.offenders(labels)
    facs = set(off.loc[off["side"] == "facilitator", "account_id"])
    reachable = facs & set(ocse_str_txns["counterparty"])
    assert len(reachable) >= 3
    assert find(1.0) == reachable
    low, high = find(0.3), find(0.8)
    assert low <= high <= reachable and high
    assert find(0.0) == set()
    assert find(1.0, already=high) == reachable - high

    noisy = find(1.0, noise=0.5)
    wrong = noisy - reachable
    assert noisy & reachable == reachable
    assert len(wrong) == len(reachable)  # half the list
    assert not wrong & set(fb.suspicious_accounts(labels))  # wrong entries are no offenders
    assert wrong <= set(ocse_str_txns["counterparty"])


# ---- 6. offenders switching corridor ----------------------------------------------------------


def test_adapt_moves_only_suspicious_payments_to_listed_facilitators(tiny_dataset):
    world = tiny_dataset
    before = world.transactions.copy()
    off = fb.offenders(world.labels)
    facs = off[off["side"] == "facilitator"].set_index("account_id")
    ts = world.transactions["ts"]
    since = ts.min() + (ts.max() - ts.min()) / 2
    listed = pd.Series(since, index=facs.index)
    done: set = set()
    changed, moved = fb.adapt(world, listed, 0.6, seed=0, done=done)
    assert moved and done == set(facs.index)
    pd.testing.assert_frame_equal(world.transactions, before)  # the input is left alone

    old, new = before, changed.transactions
    assert len(new) == len(old) and (new["txn_id"].to_numpy() == old["txn_id"].to_numpy()).all()
    diff = np.zeros(len(old), bool)
    for col in old.columns:
        same = (old[col].astype(str).to_numpy() == new[col].astype(str).to_numpy())
        if col not in ("dst_account", "dst_bank", "dst_country"):
            assert same.all(), col
        diff |= ~same
    lt = world.labels.transactions
    bad = old["txn_id"].isin(lt.loc[lt["is_suspicious"].astype(bool), "txn_id"]).to_numpy()
    assert diff.any() and not (diff & ~bad).any()  # no benign payment changes
    rows = old[diff]
    assert rows["dst_account"].isin(facs.index).all()
    assert (rows["ts"] >= since).all()
    assert not (diff & (old["ts"] < since).to_numpy()).any()
    # a share of the senders, not all of them
    could = bad & old["dst_account"].isin(facs.index).to_numpy() & (old["ts"] >= since).to_numpy()
    assert diff.sum() < could.sum()

    risk = world.countries.set_index("country")["risk"].astype(str)
    accounts = changed.accounts.set_index("account_id")
    bank_country = world.banks.set_index("bank_id")["country"].astype(str)
    roles = changed.labels.accounts.set_index("account_id")
    for (fac, new_id), part in new[diff].groupby([rows["dst_account"].to_numpy(),
                                                  new.loc[diff, "dst_account"].to_numpy()]):
        assert new_id not in set(world.accounts["account_id"])
        acc = accounts.loc[new_id]
        home = str(world.accounts.set_index("account_id").loc[fac, "country"])
        assert str(acc["country"]) != home and risk[str(acc["country"])] == "high"
        assert bank_country[str(acc["bank_id"])] == str(acc["country"])
        assert (part["dst_bank"].astype(str) == str(acc["bank_id"])).all()
        assert (part["dst_country"].astype(str) == str(acc["country"])).all()
        assert roles.loc[new_id, "role"] == "facilitator"
        assert roles.loc[new_id, "case_id"] == facs.loc[fac, "case_id"]
    # each facilitator reacts once; nobody reacts when nobody moves
    assert fb.adapt(changed, listed, 0.6, seed=0, done=done) == (changed, [])
    assert fb.adapt(world, listed, 0.0, seed=0, done=set()) == (world, [])


# ---- 7. determinism and privacy ---------------------------------------------------------------


def test_a_rerun_files_the_same_strs(runs):
    """The investigation, analysis and lists are drawn afresh at every run (only the banks'
    scores are cached); a fresh simulation is compared in the end-to-end test."""
    again = runs.sim.run("L3", runs.settings())
    first = runs.run("L3")
    assert again is not first
    assert_same_strs(again, first)
    pd.testing.assert_frame_equal(again.listed, first.listed)
    assert again.seen == first.seen


@pytest.mark.parametrize("level", ["L3", "L4"])
def test_privacy_keeps_what_is_found(runs, level):
    plain, hidden = runs.run(level), runs.run(level, privacy=True)
    assert hidden.seen["privacy"] and not plain.seen["privacy"]
    assert not plain.strs.equals(runs.run("L0").strs)  # what is exchanged matters here
    assert runs.recall(hidden, privacy=True) == runs.recall(plain)
    assert_same_strs(hidden, plain)


# ---- 8. the experiment file -------------------------------------------------------------------

EXPERIMENT = """\
name: t
dataset: d
detectors:
  - name: rules
levels: [L0, L1]
settings:
  review_capacity: 3
sweeps:
  label_noise: [0.0, 0.5]
"""


@pytest.mark.parametrize(("old", "new", "says"), [
    ("label_noise: [0.0, 0.5]", "feedback.speed: [1, 2]", "unknown setting 'feedback.speed'"),
    ("label_noise: [0.0, 0.5]", "review_capacity: [1, -1]", "sweeps.review_capacity: value -1"),
    ("- name: rules", "- name: gradient_boosting", "learns from labels"),
    ("- name: rules", "- name: watchlist_pagerank", "list of flagged accounts"),
    ("review_capacity: 3", "review_capacity: -1", "settings.review_capacity"),
])
def test_bad_experiment_file_gives_one_error_with_file_and_line(tmp_path, old, new, says):
    from finlab.cli import app

    text = EXPERIMENT.replace(old, new)
    line = text.splitlines().index("  " + new) + 1
    path = tmp_path / "coop.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    errors = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, result.output
    assert f"{path}:{line}:" in errors[0] and says in errors[0], errors[0]
    assert "Traceback" not in result.output


def test_good_experiment_files_validate(tmp_path):
    from pathlib import Path

    from finlab.cli import app

    path = tmp_path / "coop.yaml"
    path.write_text(EXPERIMENT)
    shipped = Path(__file__).parents[1] / "experiments" / "cooperation.yaml"
    for file in (path, shipped):
        result = runner.invoke(app, ["validate", str(file)])
        assert result.exit_code == 0, result.output
        assert "valid cooperation experiment" in result.output


def test_a_sweep_without_filings_fails_before_any_level_runs(tmp_path, tiny_dataset_dir):
    from finlab.cli import app

    path = tmp_path / "coop.yaml"
    path.write_text(EXPERIMENT.replace("dataset: d", f"dataset: {tiny_dataset_dir}")
                    .replace("label_noise: [0.0, 0.5]", "period_days: [1000]"))
    result = runner.invoke(app, ["cooperate", str(path), "--out", str(tmp_path / "out"),
                                 "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"])
    assert result.exit_code == 2, result.output
    assert "period_days 1000 leaves no filing" in result.output
    assert "L0:" not in result.output  # nothing ran
    assert not (tmp_path / "out" / "cooperation.json").exists()


def test_privacy_key_changes_tokens_not_results(runs):
    """A second key in the same simulation must not reuse the pool scored under the first."""
    first = runs.run("L4", privacy=True, privacy_key="key-one")
    second = runs.run("L4", privacy=True, privacy_key="key-two")
    assert_same_strs(first, second)
    assert runs.recall(second) == runs.recall(runs.run("L4"))


def test_settings_written_out_hide_the_privacy_key():
    from finlab.cooperation.experiment import public

    data = public(Settings(privacy=True, privacy_key="a secret"))
    assert "a secret" not in json.dumps(data) and data["privacy"] is True


def test_a_reaction_gives_the_same_world_whatever_came_before(tiny_dataset):
    world = tiny_dataset
    off = fb.offenders(world.labels)
    facs = off.loc[off["side"] == "facilitator", "account_id"].to_numpy(np.int64)
    assert facs.size >= 2
    when = world.transactions["ts"].min() + (world.transactions["ts"].max()
                                             - world.transactions["ts"].min()) / 3
    one = pd.Series(when, index=facs[:1])
    alone, moved_alone = fb.adapt(world, one, 1.0, seed=0, done=set())
    after, moved_after = fb.adapt(world, one, 1.0, seed=0, done={int(facs[1])})
    assert moved_alone == moved_after == [int(facs[0])]
    pd.testing.assert_frame_equal(alone.accounts, after.accounts)
    pd.testing.assert_frame_equal(alone.transactions, after.transactions)


def test_look_alikes_that_are_offenders_are_no_false_positives(runs):
    run = runs.run("L0")
    s = runs.settings()
    la = run.world.labels.accounts
    decoy = la[la["case_id"].isna() & la["role"].astype(str).str.startswith("decoy:")]
    both = decoy[decoy["account_id"].isin(fb.suspicious_accounts(run.world.labels))]
    assert len(both), "the tiny world should hold look-alikes that are also offenders"
    fake = type(run)(**{**run.__dict__, "strs": pd.concat(
        [run.strs, run.strs.head(0).reindex(range(len(both))).assign(
            account_id=both["account_id"].to_numpy(np.int64))], ignore_index=True)})
    a = level_metrics(run, runs.sim.warmup_end(s), runs.sim.checkpoints(s)[-1])
    b = level_metrics(fake, runs.sim.warmup_end(s), runs.sim.checkpoints(s)[-1])
    assert a["decoy_false_positive_rate"] == b["decoy_false_positive_rate"]


# ---- 9. finlab cooperate end to end -----------------------------------------------------------


def _all_zero(change: dict) -> bool:
    return all(_all_zero(v) if isinstance(v, dict) else v == 0 for v in change.values())


def test_cooperate_writes_results_report_and_runs(runs, tiny_dataset_dir, tmp_path,
                                                 monkeypatch):
    import mlflow

    from finlab.cli import app
    from finlab.cooperation import experiment

    recorded = []

    class Recording(Simulation):  # a fresh simulation, run by the command
        def run(self, level, s):
            recorded.append((level, s, got := super().run(level, s)))
            return got

    monkeypatch.setattr(experiment, "Simulation", Recording)
    levels = ["L0", "L1", "L4"]
    spec = tmp_path / "coop.yaml"
    spec.write_text(f"name: tinycoop\ndataset: {tiny_dataset_dir}\n"
                    f"detectors: [{{name: {DETECTOR}, params: {json.dumps(PARAMS)}}}]\n"
                    f"levels: [{', '.join(levels)}]\nsettings: {json.dumps(BASE)}\n"
                    "sweeps: {feedback.recall: [0.0, 1.0]}\n")
    out, uri = tmp_path / "out", f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = runner.invoke(app, ["cooperate", str(spec), "--out", str(out),
                                 "--tracking-uri", uri])
    assert result.exit_code == 0, result.output

    # the command's own simulation files exactly the STRs of this module's, setting for setting
    assert len(recorded) == len(levels) * (1 + 2)  # the levels, then again per sweep value
    for level, s, run in recorded:
        if s == runs.settings():
            assert_same_strs(run, runs.run(level))

    data = json.loads((out / "cooperation.json").read_text())
    got = data["detectors"][DETECTOR]
    assert list(got) == levels and list(data["levels"]) == levels
    assert len(data["filings"]) == len(runs.checkpoints())
    assert got["L0"]["change_from_L0"] and _all_zero(got["L0"]["change_from_L0"])
    for lv in levels:
        assert got[lv]["strs"] == len(runs.run(lv).strs)
        for k in HEADLINE:
            if got[lv][k] is not None and got["L0"][k] is not None:
                assert got[lv]["change_from_L0"][k] == pytest.approx(got[lv][k] - got["L0"][k])
    sweep = data["sweeps"]["feedback.recall"]
    assert sweep["detector"] == DETECTOR
    assert [r["value"] for r in sweep["runs"]] == [0.0, 1.0]
    for r in sweep["runs"]:
        assert list(r["levels"]) == levels
    # the FIU's recall cannot touch the siloed bank; recall 1.0 is the main settings again
    assert sweep["runs"][0]["levels"]["L0"] == sweep["runs"][1]["levels"]["L0"]
    for lv in levels:
        assert sweep["runs"][1]["levels"][lv] == {
            k: got[lv][k] for k in sweep["runs"][1]["levels"][lv]}

    html = (out / "report.html").read_text()
    for lv in levels:
        assert f"{lv} {LEVEL_NAMES[lv]}" in html
    sweeps = html[html.index("4. Sweeps"):html.index("5. What each party saw")]
    assert sweeps.count("<img") == 1

    mlflow.set_tracking_uri(uri)
    found = mlflow.search_runs(experiment_names=["finlab-cooperation-tinycoop"])
    assert len(found) == len(levels)
    assert sorted(found["tags.level"]) == levels
    assert set(found["tags.detector"]) == {DETECTOR}
    for _, row in found.iterrows():
        assert row["metrics.strs"] == got[row["tags.level"]]["strs"]
