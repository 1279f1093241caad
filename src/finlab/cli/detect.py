"""`finlab detect` and `finlab rules check`: one detector or one rule file on one dataset."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from finlab.cli.console import err, frame_table, out, user_errors


@user_errors
def rules_check(
    rules_file: Annotated[str, typer.Argument(
        help="A rule file, or a shipped one by name (ocse, classic).")],
    dataset: Annotated[Path, typer.Argument(help="A dataset directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Per rule: accounts hit and, where labels exist, precision and recall."""
    import finlab
    from finlab.features import build_ledger, ledger_features
    from finlab.rules import check_rules, load_rules

    rs = load_rules(rules_file)
    ds = finlab.load(dataset)
    lg = build_ledger(ds)
    table = check_rules(rs, ledger_features(lg, rs.spec.windows), lg, ds.labels)
    if as_json:
        sys.stdout.write(table.to_json(orient="records", indent=2) + "\n")
        return
    out.print(frame_table(table.fillna("-"), f"{rs.spec.name}: {rs.source}"))
    if ds.labels is None:
        out.print("(no labels: precision and recall need a labelled dataset)")


@user_errors
def detect(
    dataset: Annotated[Path, typer.Argument(help="The dataset directory to score.")],
    detector: Annotated[str, typer.Option("--detector", help="A detector name "
                                          "(finlab list detectors).")],
    out_path: Annotated[Path, typer.Option("--out", help="Scores Parquet file to write.")],
    train: Annotated[Path | None, typer.Option(
        help="A labelled dataset to fit on (default: DATASET itself).")] = None,
    params: Annotated[Path | None, typer.Option(help="A YAML file of parameters.")] = None,
    top: Annotated[int, typer.Option(help="How many top scores to explain.", min=1,
                                     max=10_000)] = 10,
    force: Annotated[bool, typer.Option("--force", help="Replace scores finlab wrote (never "
                                        "another file).")] = False,
    workers: Annotated[int | None, typer.Option(
        help="Score in account-hash shards on a Dask LocalCluster of N workers.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Score in shards on an existing Dask cluster (tcp://HOST:PORT).")] = None,
) -> None:
    """Fit a detector and write its scores (id, level, score) plus explanations of the top
    scores (beside the scores, as NAME.explanations.parquet)."""
    import finlab
    from finlab.detectors import make_detector
    from finlab.detectors.report import detection_summary, write_scores
    from finlab.outputs import check_output

    inputs = [dataset, train, params]
    check_output(out_path, force=force, inputs=inputs, kind="file")
    check_output(out_path.with_suffix(".explanations.parquet"), force=force, inputs=inputs,
                 kind="file")
    det = make_detector(detector, read_params(params))
    if workers is not None or scheduler is not None:
        detect_sharded(dataset, det, train, out_path, top, workers, scheduler)
        return
    start = time.perf_counter()
    data = finlab.load(dataset)
    fit_on = finlab.load(train) if train is not None else data
    if det.supervised and train is None:
        err.print(f"note: {detector} is fitted on {dataset} itself: its scores are "
                  "in-sample; pass --train for honest figures", highlight=False)
    det.fit(fit_on, fit_on.labels)
    visible = data.without_labels()
    scores = det.score(visible)
    top_ids = scores.nlargest(top).index
    explained = det.explain(visible, top_ids)
    write_scores(scores, det.level, out_path, explained)
    secs = time.perf_counter() - start
    out.print(f"wrote {out_path}: {len(scores):,} {det.level} scores in {secs:.1f} s")
    summary = detection_summary(scores, explained, data.labels, top, level=det.level)
    out.print(frame_table(summary, f"top {top} by {detector}"))
    if data.labels is not None:
        from finlab.detectors.report import average_precision_by_scope, payment_average_precision

        by_account = scores if det.level == "account" else det.account_scores(visible)
        for scope, (ap, base) in average_precision_by_scope(by_account, data).items():
            out.print(f"average precision ({scope}): {ap:.3f} (random: {base:.4f})")
        if det.level == "transaction":
            ap, base = payment_average_precision(scores, data)
            out.print(f"average precision (payments): {ap:.3f} (random: {base:.4f})")


def detect_sharded(dataset: Path, det, train: Path | None, out_path: Path, top: int,
                   workers: int | None, scheduler: str | None) -> None:
    """finlab detect on Dask: fit here (models on --train or DATASET), then features and scores in account-hash shards on the cluster."""
    import finlab
    from finlab.detectors.report import detection_summary, write_scores
    from finlab.engine import cluster
    from finlab.engine.shards import sharded
    from finlab.errors import InputError

    if det.family not in ("rules", "tabular"):
        raise InputError(f"--workers/--scheduler: {det.name} ({det.family}) looks beyond an "
                         "account's own payments; run it without a cluster")
    start = time.perf_counter()
    with cluster(workers, scheduler) as client:
        if det.family == "rules":
            det.fit(None)  # rules are written, not learned
        else:
            fit_on = finlab.load(train if train is not None else dataset)
            det.fit(fit_on, fit_on.labels)
        _, scores, explained = sharded(client, dataset, det=det, top=top)
    write_scores(scores.rename(det.name), det.level, out_path, explained)
    secs = time.perf_counter() - start
    out.print(f"wrote {out_path}: {len(scores):,} {det.level} scores in {secs:.1f} s "
              "(in shards on Dask)")
    out.print(frame_table(detection_summary(scores, explained, None, top),
                          f"top {top} by {det.name}"))


def read_params(params: Path | None) -> dict:
    """A detector's settings from `--params FILE` (empty without it)."""
    if params is None:
        return {}
    from finlab.config import read_yaml
    from finlab.errors import InputError

    settings, _ = read_yaml(params)
    if settings is not None and not isinstance(settings, dict):
        raise InputError(f"{params}: parameters must be a mapping")
    return settings or {}
