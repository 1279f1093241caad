"""One self-contained HTML page per experiment: the split, what the data lacks, the detectors side
by side, their curves and per-typology results, and the top alerts with their reasons, so a run can be read
(and mailed) without any other file, server or script."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from finlab.io import atomic_file
from finlab.reporting import CSS, FIGSIZE, NA

# the shared kit under this module's former names, which the sections below still use
from finlab.reporting import colors as _colors
from finlab.reporting import esc as _esc
from finlab.reporting import figure as _figure
from finlab.reporting import fmt as _fmt
from finlab.reporting import mean_std as _mean_std
from finlab.reporting import note as _note
from finlab.reporting import number as _number
from finlab.reporting import png as _png
from finlab.reporting import section as _section

MAX_ALERT_ROWS = 100  # per detector, so a large alerts frame cannot blow up the page

# (key in the account-level metrics, column heading, higher is better)
ACCOUNT_COLUMNS = (
    ("average_precision", "average precision", True),
    ("roc_auc", "ROC AUC", True),
    ("f1", "F1", True),
    ("precision_at_budget", "precision at budget", True),
    ("recall_at_budget", "recall at budget", True),
    ("median_days_to_detection", "median days to detection", False),
)


# ---------------------------------------------------------------------------------------------
# values


def _interval(level: Mapping | None, key: str) -> str:
    """" [low, high]" of a metric's 95% bootstrap interval (the first seed's when there are
    several), or "" without one."""
    got = ((level or {}).get("intervals") or {}).get(key)
    if isinstance(got, Mapping):  # over seeds: each seed's interval
        got = next((g for g in got.get("per_seed") or [] if g), None)
    if not isinstance(got, list | tuple) or len(got) != 2 or None in got:
        return ""
    return f" [{got[0]:.3f}, {got[1]:.3f}]"


#: evaluation views: (key in a detector's metrics, name, what it measures)
VIEWS = (("account", "temporal", "test-period accounts"),
         ("inductive", "inductive", "test-period accounts with no payment in the training period"),
         ("case_split", "held-out networks", ("accounts of cases never seen in training, with "
                                              "benign accounts split by account")))


def _level(metrics: Mapping, detector: str, level: str) -> Mapping | None:
    got = (metrics.get("detectors") or {}).get(detector) or {}
    value = got.get(level)
    return value if isinstance(value, Mapping) else None


def _scores(curve: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """(y, score) as arrays; missing scores rank below every real score."""
    y = np.asarray(curve["y"]).astype(int).ravel()
    score = np.asarray(curve["score"], dtype=float).ravel()
    if len(y) != len(score):
        raise ValueError(f"y has {len(y)} values but score has {len(score)}")
    bad = ~np.isfinite(score)
    if bad.any():
        floor = score[~bad].min() - 1.0 if (~bad).any() else 0.0
        score = np.where(bad, floor, score)
    return y, score


def _drawable(curves: Mapping, names: list[str], skipped: list[str]):
    """(name, y, score) of each detector with scores and positives; the others go to `skipped`
    with the reason."""
    for name in names:
        if name not in curves:
            skipped.append(f"{name} (no scores given)")
            continue
        y, score = _scores(curves[name])
        if len(y) == 0 or y.sum() == 0:
            skipped.append(f"{name} (no positive accounts)")
            continue
        yield name, y, score


def _pr_plot(plt, curves: Mapping, names: list[str], colors: dict) -> tuple[str, list[str]]:
    from sklearn.metrics import precision_recall_curve

    skipped, shares = [], set()
    with _figure(plt) as (fig, ax):
        for name, y, score in _drawable(curves, names, skipped):
            precision, recall, _ = precision_recall_curve(y, score)
            if len(recall) > 2000:  # thinned for drawing: invisible at this size, much faster
                keep = np.unique(np.linspace(0, len(recall) - 1, 2000).round().astype(int))
                precision, recall = precision[keep], recall[keep]
            ax.step(recall, precision, where="post", color=colors[name], label=name)
            shares.add(round(float(y.mean()), 6))
        if not shares:
            return "", skipped
        for share in sorted(shares):
            ax.axhline(share, color="grey", linestyle="--", linewidth=1,
                       label=f"random (positive share {share:.3g})")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
               title="precision-recall, account level, test period")
        ax.legend(fontsize="small", loc="upper right")
        return _png(fig), skipped


def _budget_plot(plt, curves: Mapping, names: list[str], colors: dict, budget: Any
                 ) -> tuple[str, list[str]]:
    skipped, longest = [], 0
    budget = _number(budget)
    with _figure(plt) as (fig, ax):
        for name, y, score in _drawable(curves, names, skipped):
            found = np.cumsum(y[np.argsort(-score, kind="stable")]) / y.sum()
            # a log-spaced grid keeps the plot (and the PNG) light for millions of accounts
            k = np.unique(np.geomspace(1, len(y), num=min(len(y), 500)).round().astype(int))
            ax.step(k, found[k - 1], where="post", color=colors[name], label=name)
            longest = max(longest, len(y))
        if not longest:
            return "", skipped
        if budget is not None and budget > 0:
            ax.axvline(budget, color="black", linestyle=":", linewidth=1.2,
                       label=f"test budget ({budget:.0f} alerts)")
        ax.set_xscale("log")
        ax.set(xlim=(1, max(longest, budget or 1)), ylim=(0, 1.02), ylabel="recall",
               xlabel="top-scored accounts reviewed",
               title="recall against alert budget, account level, test period")
        ax.legend(fontsize="small", loc="upper left")
        return _png(fig), skipped


def _grouped_barh(plt, table: dict[str, dict[str, Any]], colors: dict, xlabel: str, title: str,
                  share_axis: bool = False) -> str:
    """Horizontal bars: one group per category (rows), one bar per detector inside it."""
    names = list(table)
    categories = sorted({c for values in table.values() for c in values})
    height = 0.8 / len(names)
    tall = min(9.0, max(FIGSIZE[1], 1.2 + 0.15 * len(categories) * len(names)))
    with _figure(plt, (FIGSIZE[0], tall)) as (fig, ax):
        base = np.arange(len(categories))
        for i, name in enumerate(names):
            pairs = [_mean_std(table[name].get(c)) for c in categories]
            means = np.array([np.nan if m is None else m for m, _ in pairs])
            stds = np.array([0.0 if s is None else s for _, s in pairs])
            offset = base - 0.4 + height * (i + 0.5)
            ax.barh(offset, means, height=height, color=colors[name], label=name,
                    xerr=stds if stds.any() else None, error_kw={"linewidth": 0.8})
        ax.set_yticks(base, categories, fontsize="small")
        ax.invert_yaxis()
        ax.set(xlabel=xlabel, title=title)
        ax.set_xlim(0, max(1.0, ax.get_xlim()[1]) if share_axis else None)
        ax.legend(fontsize="small", loc="best")
        return _png(fig)


def _days_plot(plt, days: dict[str, Any], colors: dict) -> str:
    names = list(days)
    with _figure(plt) as (fig, ax):
        pairs = [_mean_std(days[n]) for n in names]
        stds = [0.0 if s is None else s for _, s in pairs]
        ax.bar(names, [m for m, _ in pairs], color=[colors[n] for n in names],
               yerr=stds if any(stds) else None, error_kw={"linewidth": 0.8})
        ax.set(ylabel="median days to detection", title="time to detection, account level")
        if len(names) > 4:
            ax.tick_params(axis="x", labelrotation=30)
        return _png(fig)


# ---------------------------------------------------------------------------------------------
# sections


def _split_section(metrics: Mapping) -> str:
    split = metrics.get("split") or {}
    budgets = metrics.get("budgets") or {}
    rows = []
    for part in ("train", "validation", "test"):
        period = split.get(part)
        start, end = (period if isinstance(period, list | tuple) and len(period) == 2
                      else (None, None))
        rows.append(f"<tr><th scope=\"row\">{part}</th><td>{_esc(start or NA)}</td>"
                    f"<td>{_esc(end or NA)}</td></tr>")
    seeds = metrics.get("seeds") or []
    facts = [
        ("experiment", metrics.get("experiment")),
        ("split kind", split.get("kind")),
        ("alert budget per month", budgets.get("alerts_per_month")),
        ("alert budget over the test period", budgets.get("test_alerts")),
        ("seeds", ", ".join(map(str, seeds)) if seeds else None),
    ]
    fact_rows = "".join(f"<tr><th scope=\"row\">{_esc(k)}</th><td>{_esc(NA if v is None else v)}"
                        "</td></tr>" for k, v in facts)
    body = (f"<table><tbody>{fact_rows}</tbody></table>"
            "<table><thead><tr><th>period</th><th>start</th><th>end</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
    if len(seeds) > 1:
        body += _note(f"Values over {len(seeds)} seeds are shown as mean ± standard deviation "
                      "(each seed's value is in metrics.json); intervals, curves and alerts are "
                      f"those of the first seed ({metrics.get('report_seed', seeds[0])}), drawn "
                      "with that seed's own data.")
    return _section(
        "1. Split and budget",
        "Detectors are fitted on the train period, tuned on validation and scored on test; the "
        "budget is how many alerts an investigation team can review.", body)


def _data_notes_section(metrics: Mapping) -> str:
    title, how = "2. Data notes", (
        "Fields of finlab's schema that this data lacks, and the features that are therefore "
        "constant or only repeat others: every detector in effect runs without them.")
    notes = metrics.get("data_notes")
    if not isinstance(notes, Mapping):
        return _section(title, how, _note("No data notes were recorded for this run."))
    layout = f" ({notes['layout']} layout)" if notes.get("layout") else ""
    left_out = notes.get("features_left_out") or []
    facts = [("source format", f"{notes.get('source_format', NA)}{layout}"),
             ("features left out", f"{len(left_out)} of {notes.get('features_total', NA)}"),
             ("synthesised on import", ", ".join(notes.get("synthesised_on_import") or [])
              or "nothing"),
             ("dropped on import", ", ".join(notes.get("dropped_on_import") or []) or "nothing")]
    body = "<table><tbody>" + "".join(
        f'<tr><th scope="row">{_esc(k)}</th><td>{_esc(v)}</td></tr>' for k, v in facts
    ) + "</tbody></table>"
    missing = notes.get("missing") or []
    if not missing:
        return _section(title, how, body + _note(
            "Nothing is missing: every field the features read varies in this data."))
    rows = "".join(
        f"<tr><th scope=\"row\">{_esc(m.get('field'))}</th><td>{_esc(m.get('why'))}</td>"
        f"<td class=\"reasons\">{len(m.get('features') or [])}: "
        f"{_esc(', '.join(m.get('features') or []))}</td></tr>" for m in missing)
    body += ("<table><thead><tr><th>missing field</th><th>why</th><th>features left out</th>"
             f"</tr></thead><tbody>{rows}</tbody></table>")
    return _section(title, how, body)


#: where a comparison column's interval is kept: transaction-level average precision ranks the
#: same test payments by the same scores as the payment level does
INTERVALS_OF = {"account": "account", "transaction": "payment", "payment": "payment"}


def _comparison_section(metrics: Mapping, names: list[str]) -> str:
    # (level, key in its metrics, column heading, higher is better)
    columns = [("account", *ACCOUNT_COLUMNS[0]),
               ("transaction", "average_precision", "transaction-level average precision", True),
               ("payment", "f1", "payment-level minority F1 (validation threshold)", True),
               ("payment", "recall_at_budget", "payment-level recall within the payment budget",
                True),
               *(("account", *c) for c in ACCOUNT_COLUMNS[1:]),
               ("case", "recall_at_budget", "case-level recall at budget", True)]
    values = {name: [(_level(metrics, name, level) or {}).get(key)
                     for level, key, _, _ in columns] for name in names}
    best: list[float | None] = []
    for j, (_, _, _, higher) in enumerate(columns):
        means = [m for n in names if (m := _mean_std(values[n][j])[0]) is not None]
        # nothing to single out when there is one value or all values tie
        spread = len(means) > 1 and not math.isclose(min(means), max(means), rel_tol=1e-12,
                                                      abs_tol=1e-12)
        best.append((max(means) if higher else min(means)) if spread else None)
    head = "".join(f"<th>{_esc(label)}</th>" for _, _, label, _ in columns)
    rows = []
    for name in names:
        cells = []
        for j, (_, key, _, _) in enumerate(columns):
            value = values[name][j]
            level = columns[j][0]
            text = _esc(_fmt(value, 1 if key == "median_days_to_detection" else 3)
                        + _interval(_level(metrics, name, INTERVALS_OF.get(level, "")), key))
            mean = _mean_std(value)[0]
            if mean is None:
                cells.append(f'<td class="num na">{text}</td>')
            elif best[j] is not None and math.isclose(mean, best[j], rel_tol=1e-12,
                                                      abs_tol=1e-12):
                cells.append(f'<td class="num"><b>{text}</b></td>')
            else:
                cells.append(f'<td class="num">{text}</td>')
        rows.append(f'<tr><th scope="row">{_esc(name)}</th>{"".join(cells)}</tr>')
    missing = [n for n in names if _level(metrics, n, "account") is None]
    body = (f"<table><thead><tr><th>detector</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
    if missing:
        body += _note("No account-level results for: " + ", ".join(missing) + ".")
    return _section(
        "3. Detectors compared",
        "Each row is one detector on the test period at account level; the second column ranks "
        "the test period's payments instead (an account-level detector gives a payment the "
        "higher score of its payer and payee), the next two score payments natively (F1 at the "
        "threshold chosen on validation payments, recall within the budget of payments a month) "
        "and the last column is at case level. Higher is "
        "better except for days to detection, and the best value per column is in bold (unless "
        "all values tie). Brackets hold 95% bootstrap intervals (positives resampled by case, "
        "negatives one by one).", body)


def _views_section(metrics: Mapping, names: list[str]) -> str:
    """Average precision and recall at budget of every detector in each evaluation view, side
    by side with their intervals."""
    shown = [v for v in VIEWS if any(_level(metrics, n, v[0]) for n in names)]
    if len(shown) < 2:  # no view beyond the temporal one: the comparison above says it all
        return ""
    head = "".join(f"<th>{_esc(label)} {what}</th>" for _, label, _ in shown
                   for what in ("AP", "recall at budget"))
    rows = []
    for name in names:
        cells = []
        for key, _, _ in shown:
            level = _level(metrics, name, key)
            for metric in ("average_precision", "recall_at_budget"):
                value = (level or {}).get(metric)
                text = _esc(_fmt(value) + _interval(level, metric))
                na = " na" if _mean_std(value)[0] is None else ""
                cells.append(f'<td class="num{na}">{text}</td>')
        rows.append(f'<tr><th scope="row">{_esc(name)}</th>{"".join(cells)}</tr>')
    info = metrics.get("views") or {}
    facts = []
    if isinstance(info.get("inductive"), Mapping):
        i = info["inductive"]
        facts.append(f"inductive: {i.get('accounts')} accounts, {i.get('positives')} positive, "
                     f"budget {i.get('budget')}")
    if isinstance(info.get("case"), Mapping):
        c = info["case"]
        parts = ", ".join(f"{p} {c[p]['cases']} cases / {c[p]['accounts']} accounts"
                          for p in ("train", "validation", "test") if isinstance(c.get(p), Mapping))
        facts.append(f"held-out networks: {parts}; test budget {c.get('budget')}")
    body = (f"<table><thead><tr><th>detector</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
    body += "".join(_note(f) for f in facts)
    how = " ".join(f"{label}: {what}." for _, label, what in shown)
    return _section(
        "3b. Evaluation views",
        "The same detectors measured three ways, side by side, with 95% bootstrap intervals. "
        + how + " A budget is the temporal one scaled to the view's share of accounts.", body)


def _figure_section(title: str, how: str, img: str, skipped: list[str], empty: str) -> str:
    body = img or _note(empty)
    if img and skipped:
        body += _note("Not drawn: " + "; ".join(skipped) + ".")
    return _section(title, how, body)


def _per_category(metrics: Mapping, names: list[str], key: str) -> dict[str, dict[str, Any]]:
    table = {}
    for name in names:
        values = (_level(metrics, name, "account") or {}).get(key) or {}
        if values:
            table[name] = dict(values)
    return table


def _alerts_section(alerts: pd.DataFrame | None, names: list[str]) -> str:
    if alerts is None or len(alerts) == 0:
        return _section("9. Top alerts with explanations",
                        "The accounts each detector would send to an investigator first.",
                        _note("No alerts were given."))
    if "detector" not in alerts.columns:
        raise ValueError("alerts needs a 'detector' column")
    shown = [c for c in ("id", "score", "truth", "reasons") if c in alerts.columns]
    order = names + [str(d) for d in pd.unique(alerts["detector"].astype(str)) if d not in names]
    parts = []
    for name in order:
        rows = alerts[alerts["detector"].astype(str) == name]
        parts.append(f"<h3>{_esc(name)}</h3>")
        if rows.empty:
            parts.append(_note("No alerts for this detector."))
            continue
        if "score" in rows.columns:
            rows = rows.sort_values("score", ascending=False, kind="stable")
        extra = len(rows) - MAX_ALERT_ROWS
        rows = rows.head(MAX_ALERT_ROWS)
        head = "".join(f"<th>{_esc(c)}</th>" for c in ["rank", *shown])
        body = []
        for rank, (_, row) in enumerate(rows.iterrows(), start=1):
            cells = [f'<td class="num">{rank}</td>']
            for col in shown:
                value = row[col]
                if col == "score":
                    number = _number(value)
                    text = NA if number is None else f"{number:.4g}"
                    cells.append(f'<td class="num">{_esc(text)}</td>')
                elif col == "truth":
                    text = NA if pd.isna(value) else str(value)
                    cls = "" if text in ("ordinary", NA) else ' class="suspicious"'
                    cells.append(f"<td{cls}>{_esc(text)}</td>")
                elif col == "reasons":
                    text = "" if pd.isna(value) else str(value)
                    cells.append(f'<td class="reasons">{_esc(text)}</td>')
                else:
                    cells.append(f"<td>{_esc(value)}</td>")
            body.append(f"<tr>{''.join(cells)}</tr>")
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
                     "</table>")
        if extra > 0:
            parts.append(_note(f"{extra} further alerts are not shown."))
    return _section(
        "9. Top alerts with explanations",
        "The accounts each detector would send to an investigator first, highest score on top, "
        "with the detector's reasons and (in red) the true role when the account is suspicious.",
        "".join(parts))


# ---------------------------------------------------------------------------------------------
# the page


def render_report(metrics: Mapping, curves: Mapping, alerts: pd.DataFrame | None,
                  title: str = "finlab experiment", alert_views: str | None = None) -> str:
    """The report as an HTML string (see `write_report`); kept apart so it can be built and
    checked without touching the disk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    detectors = metrics.get("detectors") or {}
    curves = {str(n): c for n, c in (curves or {}).items()}
    names = [str(n) for n in detectors]
    names += [n for n in curves if n not in names]
    colors = _colors(names)
    budget = (metrics.get("budgets") or {}).get("test_alerts")

    with plt.rc_context({"font.size": 9}):
        pr_img, pr_skipped = _pr_plot(plt, curves, names, colors)
        budget_img, budget_skipped = _budget_plot(plt, curves, names, colors, budget)
        typologies = _per_category(metrics, names, "by_typology")
        typology_img = (_grouped_barh(plt, typologies, colors, "recall at budget",
                                      "recall at budget per typology, account level",
                                      share_axis=True)
                        if typologies else "")
        decoys = _per_category(metrics, names, "decoy_false_positive_rate")
        decoy_img = (_grouped_barh(plt, decoys, colors, "false-positive rate",
                                   "false-positive rate per look-alike class, account level")
                     if decoys else "")
        days = {}
        for name in names:
            value = (_level(metrics, name, "account") or {}).get("median_days_to_detection")
            if _mean_std(value)[0] is not None:
                days[name] = value
        days_img = _days_plot(plt, days, colors) if days else ""

    no_days = [n for n in names if n not in days]
    days_body = days_img or _note("No detector has a median time to detection.")
    if days_img and no_days:
        days_body += _note("Left out (no detections to time, or not measured): "
                           + ", ".join(no_days) + ".")
    sections = [
        _split_section(metrics),
        _data_notes_section(metrics),
        _comparison_section(metrics, names),
        _views_section(metrics, names),
        _figure_section(
            "4. Precision-recall curves",
            "Each line shows the share of alerts that are truly suspicious (precision) as more "
            "suspicious accounts are found (recall); the dashed line is what random ranking gives.",
            pr_img, pr_skipped, "No detector has scores with at least one positive account."),
        _figure_section(
            "5. Recall against alert budget",
            "Each line shows the share of suspicious accounts found after reviewing the top-scored "
            "accounts, read at the dotted line for the test budget; higher and further left is "
            "better.", budget_img, budget_skipped,
            "No detector has scores with at least one positive account."),
        _figure_section(
            "6. Recall at budget per typology",
            "Each bar is the share of one typology's suspicious accounts that a detector flags "
            "within the budget; short bars are laundering patterns it misses.",
            typology_img, [], "No per-typology recall was given."),
        _figure_section(
            "7. False positives on look-alikes",
            "Each bar is the share of innocent accounts of one look-alike class (legitimate "
            "behaviour resembling a typology) that a detector flags; lower is better.",
            decoy_img, [], "No false-positive rates on look-alike classes were given."),
        _section(
            "8. Median days to detection",
            "Each bar is the median number of days from the start of a suspicious account's "
            "activity to its first alert; lower is better.", days_body),
        _alerts_section(alerts, names),
    ]
    if alert_views:  # pictures and reasons from finlab.explain.alerts
        sections.append(_section(
            "10. Alerts", "The top alerts of the best detector (by average precision) and of each "
            "other detector, drawn as `finlab explain` draws them.", alert_views))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{_esc(title)}</h1>{''.join(sections)}</body></html>\n")


def write_report(path: str | os.PathLike, metrics: Mapping, curves: Mapping,
                 alerts: pd.DataFrame | None, title: str = "finlab experiment",
                 alert_views: str | None = None) -> Path:
    """Write the experiment's HTML report to `path` and return it; the page embeds every plot
    as PNG and needs nothing else, and it is renamed into place only once complete, so a
    failure never leaves a half-written report behind."""
    path = Path(path)
    page = render_report(metrics, curves, alerts, title, alert_views).encode("utf-8")
    with atomic_file(path) as tmp:
        tmp.write_bytes(page)
    return path
