"""One table of headline metrics across `finlab run` result directories (used by `finlab
compare`, `finlab run` and the notebooks)."""

from __future__ import annotations

import json
from pathlib import Path

from finlab.reporting import fmt

#: metric -> column heading in tables
COLUMNS = {"average_precision": "AP", "roc_auc": "ROC AUC", "f1": "F1",
           "precision_at_budget": "P@budget", "recall_at_budget": "R@budget",
           "median_days_to_detection": "days to detect"}
LEVELS = ("account", "transaction", "case", "payment")
#: the payment level (finlab.evaluate.payment_metrics): minority-class F1 at the validation
#: threshold and precision/recall within a budget of payments
PAYMENT_COLUMNS = {"average_precision": "AP", "f1": "minority F1", "precision": "precision",
                   "recall": "recall", "precision_at_budget": "P@budget",
                   "recall_at_budget": "R@budget", "lone_recall": "lone recall"}


def read_metrics(d: Path) -> dict:
    """The metrics.json of a run directory, or one clear error."""
    from finlab.errors import InputError

    path = Path(d) / "metrics.json"
    if not path.exists():
        raise InputError(f"{path}: missing; is {d} a finlab run directory?")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON (line {e.lineno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot be read ({type(e).__name__})") from None
    detectors = data.get("detectors") if isinstance(data, dict) else None
    if not isinstance(detectors, dict) or not all(
            isinstance(v, dict | None) and all(isinstance(m, dict | None) for m in (v or {}).values())
            for v in detectors.values()):
        raise InputError(f"{path}: not the metrics.json of a finlab run (needs \"detectors\": "
                         "{name: {level: {metric: value}}})")
    return data


def comparison(results: list[tuple[str, dict]], level: str = "account"):
    """Rows of (run, detector) with the headline metrics; mean ± spread where seeds repeat. At
    transaction level the budget column says how many payments each detector's alerts cover."""
    import pandas as pd

    from finlab.errors import InputError

    if level not in LEVELS:
        raise InputError(f"--level: {level!r} is not a level; choose one of {', '.join(LEVELS)}")
    rows = []
    for run_name, metrics in results:
        for name, levels in metrics["detectors"].items():
            m = (levels or {}).get(level)
            row = {"run": run_name, "detector": name}
            for col, heading in (PAYMENT_COLUMNS if level == "payment" else COLUMNS).items():
                if level == "transaction" and col == "median_days_to_detection":
                    row["payments reviewed"] = fmt(m.get("budget") if m else None, 0)
                else:
                    row[heading] = fmt(m.get(col) if m else None)
            rows.append(row)
    return pd.DataFrame(rows)
