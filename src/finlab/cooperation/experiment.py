"""Cooperation experiments: a YAML file names the world, the detectors, the levels, the parties'
settings and the sweeps; `run_cooperation` runs every level with every detector on one time line
and writes cooperation.json, report.html and one mlflow run per detector and level."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, ValidationError, model_validator

from finlab.config import read_model
from finlab.cooperation.measure import HEADLINE, level_metrics, with_changes
from finlab.cooperation.simulate import LEVEL_NAMES, LEVELS, Settings, Simulation
from finlab.errors import InputError
from finlab.evaluate.experiment import (
    DetectorSpec,
    detector_errors,
    experiment_inputs,
    load_data,
    reuse_data,
    seeded_params,
    with_files_resolved,
    write_json_atomic,
)
from finlab.outputs import KEY, check_output, publish
from finlab.registry import StrictModel
from finlab.scratch import WorkDir

Level = Literal["L0", "L1", "L2", "L3", "L4"]


class CooperationExperiment(StrictModel):
    name: str
    description: str = ""
    scenario: str | None = Field(None, description="scenario YAML to generate (relative to "
                                 "this file)")
    dataset: str | None = Field(None, description="an existing labelled dataset directory")
    detectors: list[DetectorSpec] = Field(..., min_length=1)
    levels: list[Level] = Field(default_factory=lambda: list(LEVELS), min_length=1)
    settings: Settings = Field(default_factory=Settings)
    sweeps: dict[str, list[Any]] = Field(
        default_factory=dict, description="setting (dotted, e.g. feedback.delay_days) -> values; "
        "each value runs every level with the first detector, the other settings as given")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _check(self) -> CooperationExperiment:
        if (self.scenario is None) == (self.dataset is None):
            raise ValueError("give exactly one of scenario (to generate) or dataset (a directory)")
        keys = [d.key for d in self.detectors]
        if len(set(keys)) != len(keys):
            raise ValueError("detectors repeat; give each a distinct label")
        if len(set(self.levels)) != len(self.levels):
            raise ValueError("levels repeat")
        return self


def swept(settings: Settings, key: str, value) -> Settings:
    """`settings` with one dotted field set (validated like the file)."""
    data = settings.model_dump()
    node = data
    *path, last = key.split(".")
    for part in path:
        if not isinstance(node.get(part), dict):  # a key that names no group of settings
            raise ValueError(f"unknown setting {key!r}")  # noqa: TRY004 - a bad key, not a type
        node = node[part]
    if last not in node:
        raise ValueError(f"unknown setting {key!r}; known: {', '.join(_setting_names())}")
    if isinstance(value, dict) and isinstance(node[last], dict):
        value = {**node[last], **value}  # a partial sub-model keeps the file's other fields
    node[last] = value
    return Settings.model_validate(data)


def _setting_names(model=Settings, prefix: str = "") -> list[str]:
    names = []
    for name, f in model.model_fields.items():
        sub = f.annotation
        if isinstance(sub, type) and issubclass(sub, StrictModel):
            names += _setting_names(sub, f"{prefix}{name}.")
        else:
            names.append(prefix + name)
    return names


def load_cooperation(path: Path | str) -> tuple[CooperationExperiment, Path]:
    """Read and validate a cooperation experiment (errors: file:line: field: what is allowed)."""
    from finlab.detectors import DETECTORS

    exp, lines = read_model(path, CooperationExperiment, "a cooperation experiment")
    exp = exp.model_copy(update={"detectors": with_files_resolved(
        exp.detectors, Path(path).resolve().parent)})
    errors = detector_errors(path, lines, exp.detectors, labels_allowed=False)
    for i, d in enumerate(exp.detectors):
        if d.name in DETECTORS and DETECTORS.get(d.name).learns_account_ids:
            errors.append(f"{path}:{lines.get(('detectors', i, 'name'), '?')}: detectors[{i}]"
                          f".name: {d.name!r} spreads suspicion from a list of flagged accounts, "
                          "which a siloed bank does not have at the start; use a detector that "
                          "needs none")
    for key, values in exp.sweeps.items():
        where = f"{path}:{lines.get(('sweeps', key), '?')}: sweeps.{key}"
        if not isinstance(values, list) or not values:
            errors.append(f"{where}: give a non-empty list of values")
            continue
        for v in values:
            try:
                swept(exp.settings, key, v)
            except ValidationError as e:
                errors.append(f"{where}: value {v!r}: {e.errors()[0]['msg']}")
                break
            except ValueError as e:
                errors.append(f"{where}: {e}")
                break
    if errors:
        raise InputError("\n".join(errors))
    return exp, Path(path).resolve().parent


def run_cooperation(exp: CooperationExperiment, base: Path, out: Path, *,
                    dataset: Path | None = None, tracking_uri: str | None = None,
                    force: bool = False,
                    progress: Callable[[str], None] = lambda msg: None,
                    map_tasks=None) -> dict:
    """Run every detector at every level, then the sweeps (each setting a task of
    `map_tasks(fn, [args, ...])` when given, e.g. on Dask); write the files and mlflow runs.
    `out` follows finlab.outputs.check_output and is built in a temporary folder, then renamed
    into place (a failed run leaves nothing); tracking happens after publication."""
    out = Path(out)
    check_output(out, force=force, inputs=[dataset, *experiment_inputs(exp, base)])
    with WorkDir(out) as work:
        tmp = work.path / "out"
        reuse_data(out, tmp)
        result = _simulate_into(exp, base, tmp, dataset, progress, map_tasks)
        publish(tmp, out, work.path / "replaced")
    log_cooperation(exp, result, out, out / "report.html", tracking_uri, progress)
    return result


def sweep_levels(sim: Simulation, settings: Settings, levels: list[str]) -> dict:
    """One setting of a sweep at every level: an independent task."""
    start, end = sim.warmup_end(settings), sim.checkpoints(settings)[-1]
    return {lv: level_metrics(sim.run(lv, settings), start, end) for lv in levels}


def _simulate_into(exp: CooperationExperiment, base: Path, out: Path, dataset: Path | None,
                   progress: Callable[[str], None], map_tasks=None) -> dict:
    """Every level and sweep, with cooperation.json and report.html written into `out`."""
    from finlab.cooperation.report import write_cooperation_report

    world = load_data(exp, base, out, exp.seed, dataset, progress)
    probe = Simulation(world, exp.detectors[0].name, {}, exp.seed)
    for settings in [exp.settings, *(swept(exp.settings, k, v) for k, vs in exp.sweeps.items()
                                      for v in vs)]:
        probe.checkpoints(settings)  # every setting has filings in this data, before any work
    result: dict = {KEY: "cooperation", "experiment": exp.name, "description": exp.description,
                    "settings": public(exp.settings),
                    "levels": {lv: LEVEL_NAMES[lv] for lv in exp.levels},
                    "detectors": {}, "seen": {}, "sweeps": {}}
    sims = {}
    for spec in exp.detectors:
        sim = Simulation(world, spec.name, seeded_params(spec, exp.seed), exp.seed, progress)
        sims[spec.key] = sim
        checkpoints = sim.checkpoints(exp.settings)
        result["filings"] = [str(c) for c in checkpoints]
        levels, seen = {}, {}
        for lv in exp.levels:
            start = time.perf_counter()
            run = sim.run(lv, exp.settings)
            levels[lv] = level_metrics(run, sim.warmup_end(exp.settings), checkpoints[-1])
            seen[lv] = run.seen
            progress(f"{spec.key} {lv}: offender recall {_f(levels[lv]['offender_recall'])}, "
                     f"{len(run.strs)} STRs, {time.perf_counter() - start:.0f} s")
        result["detectors"][spec.key] = with_changes(levels)
        result["seen"][spec.key] = seen
    first = exp.detectors[0].key
    points = [(key, value) for key, values in exp.sweeps.items() for value in values]
    tasks = [(sims[first], swept(exp.settings, key, value), exp.levels) for key, value in points]
    swept_levels = (map_tasks(sweep_levels, tasks) if map_tasks is not None
                    else [sweep_levels(*t) for t in tasks])
    for key in exp.sweeps:
        result["sweeps"][key] = {"detector": first, "runs": []}
    for (key, value), levels in zip(points, swept_levels, strict=True):
        progress(f"sweep {key}={value}: offender recall " + ", ".join(
            f"{lv} {_f(m['offender_recall'])}" for lv, m in levels.items()))
        result["sweeps"][key]["runs"].append({"value": value, "levels": {
            lv: {k: m[k] for k in HEADLINE} for lv, m in with_changes(levels).items()}})
    write_json_atomic(out / "cooperation.json", result)
    write_cooperation_report(out / "report.html", result)
    return result


def log_cooperation(exp: CooperationExperiment, result: dict, out: Path, report: Path,
                    uri: str | None, progress: Callable[[str], None]) -> str:
    """One mlflow run per detector and level (its metrics, changes from L0 and settings)."""
    from finlab.evaluate.tracking import flat, open_experiment

    runs = [(k, lv) for k in result["detectors"] for lv in result["detectors"][k]]
    uri = open_experiment(uri, f"finlab-cooperation-{exp.name}", len(runs), progress)
    import mlflow

    settings = flat("", public(exp.settings), {})
    for key, lv in runs:
        with mlflow.start_run(run_name=f"{key}-{lv}"):
            mlflow.set_tags({"detector": key, "level": lv, "level_name": LEVEL_NAMES[lv],
                             "finlab.out": str(out)})
            mlflow.log_params({"detector": key, "level": lv, "seed": exp.seed,
                               **{f"setting.{k}": v for k, v in settings.items()}})
            mlflow.log_metrics(flat("", result["detectors"][key][lv], {}))
            mlflow.log_artifact(str(out / "cooperation.json"))
            mlflow.log_artifact(str(report))
    return uri


def public(settings: Settings) -> dict:
    """The settings as written to files and mlflow: the privacy key never leaves the process."""
    data = settings.model_dump(mode="json")
    data["privacy_key"] = "(hidden)"
    return data


def levels_table(result: dict, detector: str | None = None) -> pd.DataFrame:
    """One row per detector and level: the headline numbers and their change from L0."""
    rows = []
    for key, levels in result["detectors"].items():
        if detector is not None and key != detector:
            continue
        for lv, m in levels.items():
            ch = m.get("change_from_L0", {})
            rows.append({"detector": key, "level": lv,
                         "recall": m["offender_recall"], "recall vs L0": ch.get("offender_recall"),
                         "precision": m["offender_precision"], "AP": m["average_precision"],
                         "days": m["median_days_to_detection"],
                         "days vs L0": ch.get("median_days_to_detection"),
                         "coverage": m["network_coverage"]})
    return pd.DataFrame(rows).round(3)


def _f(x) -> str:
    return "-" if x is None else f"{x:.3f}"
