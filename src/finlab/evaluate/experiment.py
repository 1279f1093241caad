"""Experiments: a YAML file names the data, the split, the detectors, the alert budget and the
seeds; `run_experiment` fits on the training period, chooses thresholds on validation, scores
the test period and writes metrics.json, scores/, report.html and one mlflow run per detector
and seed."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from finlab.config import read_model
from finlab.errors import InputError
from finlab.outputs import KEY, NAME, check_output, directory_kind, inside, publish, safe_name
from finlab.registry import StrictModel
from finlab.reporting import account_truth, top_alerts
from finlab.schema import Dataset
from finlab.scratch import WorkDir

#: largest seed an experiment may give (scenario seed + this stays within numpy's range)
MAX_SEED = 2**31 - 1

#: runs fn(*args) for each tuple of args and returns the results in order (e.g. on Dask)
MapTasks = Callable[[Callable, list[tuple]], list]


class DetectorSpec(StrictModel):
    name: str
    label: str | None = Field(None, description="name in reports (default: the detector name)")
    params: dict = Field(default_factory=dict)

    @field_validator("label")
    @classmethod
    def _plain_label(cls, v: str | None) -> str | None:
        if v is not None and (not NAME.match(v) or v in (".", "..")):
            raise ValueError("a label names files in the output: use letters, digits, -, _ and . "
                             "only (no / or \\, not . or .., at most 100 characters)")
        return v

    @property
    def key(self) -> str:
        return self.label or self.name


class SplitSpec(StrictModel):
    kind: Literal["temporal"] = "temporal"
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    views: list[Literal["inductive", "case"]] = Field(
        default_factory=lambda: ["inductive", "case"],
        description="also evaluate on accounts unseen in training (inductive) and on whole "
        "networks held out (case)")
    bootstrap: int = Field(200, ge=0, le=10_000, description="resamples for 95% intervals "
                           "(0: none)")


class BudgetSpec(StrictModel):
    alerts_per_month: int = Field(50, ge=1, le=1_000_000, description="accounts analysts can review a month")
    payments_per_month: int = Field(1000, ge=1, le=100_000_000,
                                    description="payments analysts can review a month (payment level)")


class Experiment(StrictModel):
    name: str
    description: str = ""
    scenario: str | None = Field(None, description="scenario YAML to generate (relative to "
                                 "this file)")
    dataset: str | None = Field(None, description="an existing dataset directory")
    split: SplitSpec = Field(default_factory=SplitSpec)
    detectors: list[DetectorSpec] = Field(..., min_length=1)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(
        default_factory=lambda: [0], min_length=1, max_length=100,
        description="each added to the scenario's seed")
    checkpoints: int = Field(4, ge=1, le=12, description="scorings within the test period, "
                             "for days to detection")

    @model_validator(mode="after")
    def _data(self) -> Experiment:
        if (self.scenario is None) == (self.dataset is None):
            raise ValueError("give exactly one of scenario (to generate) or dataset (a directory)")
        keys = [d.key for d in self.detectors]
        if len(set(keys)) != len(keys):
            raise ValueError("detectors repeat; give each a distinct label")
        return self


def load_experiment(path: Path | str) -> tuple[Experiment, Path]:
    """Read and validate an experiment file (errors: file:line: field: what is allowed)."""
    exp, lines = read_model(path, Experiment, "an experiment")
    base = Path(path).resolve().parent
    exp = exp.model_copy(update={"detectors": with_files_resolved(exp.detectors, base)})
    errors = detector_errors(path, lines, exp.detectors)
    if errors:
        raise InputError("\n".join(errors))
    return exp, base


def with_files_resolved(detectors: list[DetectorSpec], base: Path) -> list[DetectorSpec]:
    """Detector `files:` (rule files) relative to the experiment file, not to wherever the
    command runs; names of shipped rule sets stay as they are."""
    from finlab.rules import SHIPPED

    out = []
    for d in detectors:
        files = d.params.get("files")
        if isinstance(files, list):
            files = [str(base / f) if isinstance(f, str) and f not in SHIPPED
                     and not Path(f).is_absolute() else f for f in files]
            d = d.model_copy(update={"params": {**d.params, "files": files}})
        out.append(d)
    return out


def detector_errors(path, lines: dict, detectors: list[DetectorSpec], *,
                    labels_allowed: bool = True) -> list[str]:
    """One line per detector entry that names no registered detector, has bad parameters or,
    where no labels exist (`labels_allowed` false), learns from labels."""
    from finlab.detectors import DETECTORS, make_detector
    from finlab.detectors.base import missing_extra

    errors = []
    for i, d in enumerate(detectors):
        where = f"{path}:{lines.get(('detectors', i, 'name'), '?')}: detectors[{i}]"
        if d.name not in DETECTORS:
            errors.append(f"{where}.name: unknown detector {d.name!r}; known: "
                          f"{', '.join(DETECTORS.names())}")
        elif missing_extra(DETECTORS.get(d.name)) is not None:
            errors.append(f"{where}.name: {d.name!r} needs the {DETECTORS.get(d.name).extra} "
                          f"extra: {missing_extra(DETECTORS.get(d.name))}")
        elif DETECTORS.get(d.name).supervised and not labels_allowed:
            errors.append(f"{where}.name: {d.name!r} learns from labels, which no party of the "
                          "cooperation simulation has; use a detector that needs none")
        else:
            try:
                make_detector(d.name, d.params)
            except InputError as e:
                errors.append(f"{where}.params: {e}")
                continue
            errors += _rule_file_errors(where, d.params.get("files"))
    return errors


def _rule_file_errors(where: str, files) -> list[str]:
    """Rule files a detector names are read and checked now, before any work."""
    from finlab.rules import load_rules

    errors = []
    for f in files if isinstance(files, list) else []:
        try:
            load_rules(f)
        except InputError as e:
            errors.append(f"{where}.params.files: {str(e).splitlines()[0]}")
    return errors


@dataclass
class DetectorRun:
    """What one detector and seed produced: test scores, thresholds and metrics."""

    key: str
    seed: int
    detector: object
    threshold: float
    validation_scores: pd.Series
    test_scores: pd.Series
    metrics: dict
    explanations: pd.DataFrame
    seconds: float


@dataclass
class ExperimentResult:
    experiment: Experiment
    metrics: dict
    runs: list[DetectorRun] = field(default_factory=list)
    out: Path | None = None


def seeded_params(spec: DetectorSpec, seed: int) -> dict:
    from finlab.detectors import DETECTORS

    params = dict(spec.params)
    if "seed" in DETECTORS.get(spec.name).Params.model_fields and "seed" not in params:
        params["seed"] = seed
    return params


def evaluate_dataset(exp: Experiment, ds: Dataset, seed: int,
                     progress: Callable[[str], None] = lambda msg: None,
                     on_run: Callable[[DetectorRun], None] = lambda run: None) -> tuple:
    """Fit every detector on the training period, choose its threshold on validation and score
    the test period (plus checkpoints inside it for days to detection). Returns (runs, split,
    budget, views); `on_run` sees each detector's run as soon as it is done."""
    from finlab.detectors import make_detector
    from finlab.evaluate.held_out import Views
    from finlab.evaluate.metrics import (
        account_metrics,
        best_f1_threshold,
        case_metrics,
        period_transactions,
        top_k,
        transaction_metrics,
    )
    from finlab.evaluate.splits import period_targets, temporal_split, until

    split = temporal_split(ds, exp.split.fractions)
    train = until(ds, split.train_end)
    validation = until(ds, split.validation_end).without_labels()
    test = until(ds, split.end).without_labels()
    val_targets = period_targets(ds, split.train_end, split.validation_end)
    test_targets = period_targets(ds, split.validation_end, split.end)
    test_txns = period_transactions(ds, split.validation_end, split.end)
    test_days = (split.end - split.validation_end).total_seconds() / 86_400
    budget = max(1, round(exp.budget.alerts_per_month * test_days / 30))
    step = (split.end - split.validation_end) / exp.checkpoints
    checkpoints = [split.validation_end + step * (j + 1) for j in range(exp.checkpoints - 1)]
    cut_views = [until(ds, c).without_labels() for c in checkpoints]
    views = Views.prepare(exp, ds, split, seed, test_targets, budget)
    runs = []
    for spec in exp.detectors:
        progress(f"{spec.key} (seed {seed}): fit on the training period")
        start = time.perf_counter()
        det = make_detector(spec.name, seeded_params(spec, seed))
        det.fit(train, train.labels)
        val_scores = det.account_scores(validation)
        yv = val_targets.y
        threshold = best_f1_threshold(
            yv.to_numpy(), val_scores.reindex(yv.index).fillna(val_scores.min()).to_numpy())
        progress(f"{spec.key} (seed {seed}): score the test period")
        test_scores = det.account_scores(test)
        detected_at = pd.Series(dtype="datetime64[ns, UTC]")
        for c, view in zip([*checkpoints, split.end], [*cut_views, test], strict=True):
            s = test_scores if view is test else det.account_scores(view)
            elapsed = (c - split.validation_end).total_seconds() / 86_400
            k = max(1, round(exp.budget.alerts_per_month * elapsed / 30))
            new = top_k(s.reindex(test_targets.y.index).fillna(s.min()), k).difference(
                detected_at.index)
            detected_at = pd.concat([detected_at, pd.Series(c, index=new)])
        account = account_metrics(test_scores, test_targets, threshold, budget, detected_at)
        case = case_metrics(test_scores, test_targets, budget, detected_at)
        payment = payment_level(exp, ds, det, split, validation, test, test_txns, seed)
        transaction = transaction_metrics(
            payment.pop("scores"), test_txns, test_targets.y.index, budget, det.level,
            threshold if det.level == "account" else payment["threshold"])
        metrics = {"account": account, "transaction": transaction, "case": case,
                   "payment": payment}
        views.add(metrics, test_scores, threshold, detected_at)
        if views.case is not None:
            progress(f"{spec.key} (seed {seed}): networks held out (case split)")
            views.add_case_split(metrics, make_detector(spec.name, seeded_params(spec, seed)))
        top_ids = top_k(test_scores.reindex(test_targets.y.index).dropna(), 10)
        runs.append(DetectorRun(spec.key, seed, det, threshold, val_scores, test_scores, metrics,
                                det.explain_accounts(test, top_ids), time.perf_counter() - start))
        on_run(runs[-1])
    return runs, split, budget, views.as_dict()


def payment_level(exp: Experiment, ds: Dataset, det, split, validation: Dataset, test: Dataset,
                  test_txns: pd.DataFrame, seed: int) -> dict:
    """Payment-level metrics of any detector (finlab.evaluate.payment_metrics), its threshold
    chosen on the validation period's payments, with 95% bootstrap intervals (paired across
    detectors by the seed); "scores" holds the test payments' scores (for a payment detector its
    own, else by txn_id of the higher-scored end)."""
    from finlab.evaluate.bootstrap import payment_intervals
    from finlab.evaluate.metrics import best_f1_threshold, period_transactions, transaction_scores
    from finlab.evaluate.payment_metrics import payment_cases, payment_classes, payment_metrics

    level = det.level
    val_txns = period_transactions(ds, split.train_end, split.validation_end)
    raw_val = det.score(validation) if level == "transaction" else det.account_scores(validation)
    val_score = transaction_scores(raw_val, val_txns, level)
    threshold = best_f1_threshold(val_txns["is_suspicious"].to_numpy(int), val_score)
    raw = det.score(test) if level == "transaction" else det.account_scores(test)
    score = transaction_scores(raw, test_txns, level)
    days = (split.end - split.validation_end).total_seconds() / 86_400
    budget = max(1, round(exp.budget.payments_per_month * days / 30))
    mode = getattr(det.params, "mode", None)
    y = test_txns["is_suspicious"].to_numpy(bool)
    out = payment_metrics(score, y, payment_classes(ds, test_txns), threshold, budget, mode)
    if exp.split.bootstrap:
        out["intervals"] = payment_intervals(score, y, payment_cases(ds, test_txns), threshold,
                                             out["budget"], exp.split.bootstrap, seed)
    out["scores"] = raw
    return out


def aggregate(per_seed: list[dict]) -> dict:
    """Mean, spread and each seed's value over seeds for numbers (intervals: each seed's); one
    seed stays as it is."""
    if len(per_seed) == 1:
        return per_seed[0]

    def merge(values):
        first = values[0]
        if isinstance(first, dict):
            return {k: merge([v.get(k) for v in values]) for k in first}
        if any(isinstance(v, list) for v in values):
            return {"per_seed": values}
        nums = [v for v in values if isinstance(v, int | float) and v is not None]
        if len(nums) != len(values):
            return None if not nums else {"mean": float(np.mean(nums)),
                                          "std": float(np.std(nums)), "n": len(nums),
                                          "per_seed": values}
        return {"mean": float(np.mean(nums)), "std": float(np.std(nums)), "per_seed": values}

    return merge(per_seed)


def clean(obj):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json_atomic(path: Path, payload) -> None:
    from finlab.io import atomic_file

    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(clean(payload), indent=2) + "\n")


def load_data(exp: Experiment, base: Path, out: Path, seed: int, dataset: Path | None,
              progress: Callable[[str], None]) -> Dataset:
    """The experiment's data for one seed: a given dataset directory, or the scenario generated
    with the seed added to its own (kept under OUT/data/ and reused)."""
    import finlab

    if dataset is not None or exp.dataset is not None:
        path = Path(dataset) if dataset is not None else base / exp.dataset
        return finlab.load(path)
    from finlab.config import load_scenario
    from finlab.generate import generate

    scenario = load_scenario(base / exp.scenario)
    if scenario.seed + seed > 2**63 - 1:
        raise InputError(f"{base / exp.scenario}: seed {scenario.seed} plus the experiment's "
                         f"seed {seed} exceeds 2**63-1; use smaller seeds")
    scenario = scenario.model_copy(update={"seed": scenario.seed + seed})
    target = out / "data" / f"{Path(exp.scenario).stem}-seed{scenario.seed}"
    if not (target / "manifest.json").exists():
        progress(f"generating {exp.scenario} with seed {scenario.seed}")
        generate(scenario, target, force=True)
    return finlab.load(target)


def run_experiment(exp: Experiment, base: Path, out: Path, *, dataset: Path | None = None,
                   tracking_uri: str | None = None, force: bool = False,
                   progress: Callable[[str], None] = lambda msg: None,
                   map_tasks: MapTasks | None = None) -> ExperimentResult:
    """Run every detector over every seed and write the experiment's files into `out`.
    `map_tasks(fn, [args, ...])` runs the seeds elsewhere (finlab.engine.sweeps on Dask).

    `out` follows finlab.outputs.check_output (with `force`, only a finlab run is replaced).
    Everything is built in a temporary folder and renamed into place: a failed run leaves
    nothing, a replaced run disappears only once the new one is complete. Tracking happens
    after publication (an unreachable server leaves the files in place)."""
    from finlab.evaluate import tracking

    out = Path(out)
    check_output(out, force=force, inputs=[dataset, *experiment_inputs(exp, base)])
    with WorkDir(out) as work:
        tmp = work.path / "out"
        reuse_data(out, tmp)
        runs, metrics = _run_into(exp, base, tmp, dataset, progress, map_tasks)
        publish(tmp, out, work.path / "replaced")
    tracking.log_runs(exp, runs, metrics, out, out / "report.html", tracking_uri, progress)
    return ExperimentResult(exp, metrics, runs, out)


def experiment_inputs(exp, base: Path) -> list[Path]:
    """Files and directories an experiment reads, which its output must never replace."""
    paths = [base / p for p in (exp.scenario, exp.dataset) if p is not None]
    for d in exp.detectors:
        paths += [Path(f) for f in d.params.get("files", []) or [] if isinstance(f, str)]
    return paths


def reuse_data(old: Path, tmp: Path) -> None:
    """Datasets generated by an earlier run in `old` (replaced with --force) are linked into the
    new run rather than generated again; they are checked against their checksums when read."""
    tmp.mkdir()
    src = old / "data"
    if src.is_dir() and not src.is_symlink() and directory_kind(old) in ("run", "cooperation"):
        def link(a, b):
            try:
                os.link(a, b)
            except OSError:
                shutil.copy2(a, b)

        shutil.copytree(src, tmp / "data", copy_function=link, symlinks=True)


def run_seed(exp: Experiment, base: Path, out: Path, seed: int, dataset: Path | None):
    """One seed of an experiment, as a task: its data, then every detector on it."""
    return evaluate_dataset(exp, load_data(exp, base, out, seed, dataset, lambda msg: None), seed)


def _run_into(exp: Experiment, base: Path, out: Path, dataset: Path | None,
              progress: Callable[[str], None], map_tasks: MapTasks | None = None
              ) -> tuple[list[DetectorRun], dict]:
    """Every seed and detector, with metrics.json, scores/ and report.html written into `out`."""
    from finlab.detectors.report import scores_table, write_atomic
    from finlab.evaluate.data_notes import data_notes
    from finlab.evaluate.report import write_report

    (out / "scores").mkdir(parents=True, exist_ok=True)
    runs: list[DetectorRun] = []
    split = budget = notes = None
    first_split = views = None
    if map_tasks is None:
        for seed in exp.seeds:
            ds = load_data(exp, base, out, seed, dataset, progress)
            if notes is None:  # the first seed's data stands for all: the same format every time
                notes, first_ds = data_notes(ds), ds
            seed_runs, split, budget, seed_views = evaluate_dataset(exp, ds, seed, progress)
            if first_split is None:
                first_split, views = split, seed_views
            del ds  # the next seed's data replaces it; the first stays as first_ds for the report
            runs.extend(seed_runs)
    else:  # seeds as independent tasks (finlab.engine): each loads or generates its own data
        for seed_runs, split, budget, seed_views in map_tasks(
                run_seed, [(exp, base, out, seed, dataset) for seed in exp.seeds]):
            if first_split is None:
                first_split, views = split, seed_views
            runs.extend(seed_runs)
        first_ds = load_data(exp, base, out, exp.seeds[0], dataset, progress)
        notes = data_notes(first_ds)
    if notes["missing"]:
        progress(f"data notes: {len(notes['features_left_out'])} features left out, "
                 f"lacking {', '.join(m['field'] for m in notes['missing'])}")
    keys = [d.key for d in exp.detectors]
    metrics = {
        KEY: "run",
        "experiment": exp.name,
        "split": first_split.as_dict(),
        "report_seed": exp.seeds[0],
        "budgets": {"alerts_per_month": exp.budget.alerts_per_month, "test_alerts": budget},
        "views": views,
        "seeds": exp.seeds,
        "data_notes": notes,
        "feature_modes": {r.key: getattr(r.detector.params, "mode", None) for r in runs
                          if r.seed == exp.seeds[0]},
        "detectors": {k: aggregate([r.metrics for r in runs if r.key == k]) for k in keys},
    }
    write_json_atomic(out / "metrics.json", metrics)
    first = {r.key: r for r in runs if r.seed == exp.seeds[0]}
    for key, r in first.items():
        write_atomic(scores_table(r.test_scores, "account"),
                     inside(out / "scores", f"{safe_name(key, 'detector label')}.parquet"))
    # the curves, alerts and their pages are the first seed's: its scores with its own data
    curves, alerts = {}, []
    from finlab.truth import period_targets

    targets = period_targets(first_ds, first_split.validation_end, first_split.end)
    truth = account_truth(first_ds.labels)
    for key, r in first.items():
        s = r.test_scores.reindex(targets.y.index).fillna(r.test_scores.min())
        curves[key] = {"y": targets.y.to_numpy(), "score": s.to_numpy()}
        alerts.append(top_alerts(s, r.explanations, truth, top=10).assign(detector=key))
    from finlab.explain.alerts import alerts_html

    progress("drawing the top alerts")
    pages = alerts_html(first_ds, first_split.end, metrics,
                        {k: r.test_scores.reindex(targets.y.index) for k, r in first.items()},
                        {k: r.explanations for k, r in first.items()})
    write_report(out / "report.html", clean(metrics), curves,
                 pd.concat(alerts, ignore_index=True), title=f"finlab: {exp.name}",
                 alert_views=pages)
    return runs, metrics

