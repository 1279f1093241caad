"""mlflow tracking of experiment runs: one run per detector and seed with its parameters, the
resolved configuration, its metrics, the report and its scores, and the fitted model where it is
a scikit-learn model.

The default store is a local sqlite file (no server to start). mlflow is imported only here and
only when tracking happens (it takes seconds to import); its telemetry is switched off. An
unreachable tracking server costs one clear line, never a hang: the experiment's files are
written before tracking starts.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from finlab.errors import FinlabError

DEFAULT_URI = "sqlite:///mlflow.db"


def default_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI)


#: tracking URI schemes mlflow can store runs in (no scheme: a local directory)
SCHEMES = ("", "file", "sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def check_uri(uri: str | None) -> None:
    """Refuse, before any work, a tracking URI whose scheme mlflow cannot store runs in."""
    if uri is None:
        return
    scheme = urlparse(uri).scheme.split("+")[0]
    if len(scheme) == 1:  # a Windows drive letter, i.e. a local path
        scheme = ""
    if scheme not in SCHEMES:
        from finlab.errors import InputError

        raise InputError(f"--tracking-uri {uri!r}: unknown scheme {scheme!r}; use one of "
                         "sqlite:///FILE, file:DIR, http(s)://HOST or a database URI")


def check_reachable(uri: str, timeout: float = 3.0) -> None:
    """Fail fast with one line when an http(s) tracking server does not answer."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as e:
        raise TrackingError(f"mlflow tracking server {uri} is unreachable ({e.strerror or e}); "
                            "the experiment's files are written, the runs are not tracked") from None


class TrackingError(FinlabError):
    exit_code = 3


def flat(prefix: str, value, out: dict) -> dict:
    """Nested metrics as flat mlflow keys, e.g. account.by_typology.fan_in; None is skipped."""
    if isinstance(value, dict):
        for k, v in value.items():
            flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out[prefix.replace(":", "_")] = float(value)
    return out


def open_experiment(uri: str | None, name: str, n_runs: int,
                    progress: Callable[[str], None] = lambda msg: None) -> str:
    """Point mlflow at `uri` (default: the local sqlite store) and at the experiment `name`,
    created with its artifacts beside a sqlite file; returns the URI."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    uri = uri or default_uri()
    check_uri(uri)
    check_reachable(uri)
    progress(f"tracking {n_runs} runs in {uri}")
    import logging

    import mlflow

    # mlflow's notes on creating tables and on pickled models would drown finlab's own output
    for logger in ("mlflow.store.db.utils", "mlflow.sklearn", "alembic"):
        logging.getLogger(logger).setLevel(logging.ERROR)

    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(name) is None and uri.startswith("sqlite:///"):
        # artifacts beside the database file, not wherever the command happens to run
        store = Path(uri.removeprefix("sqlite:///")).absolute().parent / "mlruns"
        mlflow.create_experiment(name, artifact_location=store.as_uri())
    mlflow.set_experiment(name)
    return uri


def log_runs(exp, runs, metrics: dict, out: Path, report: Path, uri: str | None,
             progress: Callable[[str], None] = lambda msg: None) -> str:
    """Log every (detector, seed) run; return the tracking URI used."""
    uri = open_experiment(uri, f"finlab-{exp.name}", len(runs), progress)
    import mlflow

    config = exp.model_dump(mode="json")
    for r in runs:
        with mlflow.start_run(run_name=f"{r.key}-seed{r.seed}"):
            mlflow.set_tags({"detector": r.key, "seed": str(r.seed), "finlab.out": str(out)})
            mlflow.log_params({"detector": r.detector.name, "seed": r.seed,
                               **{f"param.{k}": str(v)[:250] for k, v in
                                  r.detector.params.model_dump(mode="json").items()}})
            mlflow.log_metrics({**flat("", r.metrics, {}), "seconds": r.seconds})
            mlflow.log_dict(config, "experiment.json")
            mlflow.log_dict(r.detector.params.model_dump(mode="json"), "detector_params.json")
            mlflow.log_artifact(str(report))
            mlflow.log_artifact(str(out / "metrics.json"))
            scores = out / "scores" / f"{r.key}.parquet"
            if scores.exists() and r.seed == exp.seeds[0]:
                mlflow.log_artifact(str(scores), "scores")
            write_model = getattr(r.detector, "write_model", None)
            if write_model is not None and getattr(r.detector, "fitted_", False):
                with tempfile.TemporaryDirectory() as tmp:  # a network of its own format (torch)
                    mlflow.log_artifact(str(write_model(Path(tmp) / f"{r.key}.pt")), "model")
            model = getattr(r.detector, "model_", None)
            if model is not None and type(model).__module__.startswith("sklearn"):
                import mlflow.sklearn

                # pickle: the model was fitted in this very process, so it is trusted
                mlflow.sklearn.log_model(model, name="model", serialization_format="pickle",
                                         pip_requirements=["scikit-learn", "numpy"])
    return uri
