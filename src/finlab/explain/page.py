"""One standalone HTML page per explanation: the picture (inline SVG), the explained accounts, the
detector's reasons, the payments in the window and the features with their population percentile.
No script, no external link: it opens offline and can be mailed as one file."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from finlab.explain.draw import draw_svg

FEATURES_SHOWN = 30  # the most unusual ones; the rest fold into a <details> element

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em auto;
       max-width: 1300px; padding: 0 1em; color: #222; line-height: 1.35; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; font-size: 1.5em; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; font-size: 1.2em; }
p.how { color: #555; font-style: italic; margin-top: 0; }
p.note { color: #8a5a00; }
table { border-collapse: collapse; margin: .4em 0 1em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: .2em .5em; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.high { background: #fde0dd; } td.low { background: #deebf7; }
figure { margin: .5em 0 1em; overflow-x: auto; }
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def table(frame: pd.DataFrame, numeric=(), shade: str | None = None) -> str:
    """A frame as an HTML table; `shade` names a percentile column to colour above 90 / below 10."""
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for col, v in zip(frame.columns, values, strict=True):
            cls = "num" if col in numeric else ""
            if col == shade and isinstance(v, float):
                cls += " high" if v >= 90 else " low" if v <= 10 else ""
            text = (f"{v:,.4g}" if isinstance(v, float | np.floating) and col != shade
                    else f"{v:.1f}" if col == shade else v)
            cells.append(f'<td class="{cls.strip()}">{esc(text)}</td>' if cls.strip()
                         else f"<td>{esc(text)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def reasons_html(reasons: pd.DataFrame | None, detector: str | None, score=None,
                 score_pct=None) -> str:
    """The detector's reasons: rules that fired, leading feature contributions, or the accounts
    and flows a graph detector found."""
    if detector is None:
        return '<p class="note">No detector was chosen.</p>'
    head = f"<p>Detector <b>{esc(detector)}</b>"
    if score is not None and np.isfinite(score):
        head += f": score {score:.4g}"
        if score_pct is not None:
            head += f", higher than {score_pct:.1f}% of the population"
    head += ".</p>"
    if reasons is None or reasons.empty:
        return head + '<p class="note">The detector gives no reason for this account: nothing ' \
                      "fired.</p>"
    shown = reasons.rename(columns={"id": "account"})[["account", "reason", "value", "weight"]]
    return head + table(shown, numeric=("value", "weight"))


def render(view) -> str:
    """The page of a `View` as an HTML string."""
    svg = draw_svg(view.subgraph, view.nodes, roles=view.labelled, highlight=view.highlight)
    window = (f"{view.start:%Y-%m-%d %H:%M} to {view.as_of:%Y-%m-%d %H:%M} UTC "
              f"({(view.as_of - view.start).days} days), up to {view.hops} hops")
    counts = view.subgraph.nodes["kind"].value_counts()
    parts = [f"<h1>finlab explain: {esc(view.title)}</h1>",
             (f'<p class="how">Money flow in the window {esc(window)}. {len(view.nodes)} nodes: '
             f"{counts.get('account', 0)} accounts drawn one by one, "
             f"{counts.get('folded', 0)} folded heavy counterparties, "
             f"{counts.get('more', 0)} folded groups of further accounts.</p>")]
    parts += [f'<p class="note">{esc(n)}</p>' for n in view.notes]
    centres = view.centres.drop(columns=[c for c in ("role",) if not view.labelled
                                         and c in view.centres.columns])
    parts.append("<h2>Explained account" + ("s" if len(centres) > 1 else "") + "</h2>")
    parts.append(table(centres.rename(columns={"account_id": "account"})))
    parts.append("<h2>Money flow</h2>")
    where = ("The case's accounts (ringed) in the middle, ordered left to right by how money "
             "flows between them; their payers further left, their payees further right"
             if len(centres) > 1 else "Payers of the explained account on the left, payees on "
             "the right")
    parts.append(f'<p class="how">{where}, one column per hop; arrow width grows with the amount '
                 "(base currency); labels give the number of payments and their date range.</p>")
    parts.append(f"<figure>{svg}</figure>")
    parts.append("<h2>Reasons</h2>")
    parts.append(reasons_html(view.reasons, view.detector, view.score, view.score_percentile))
    parts.append(f"<h2>Payments in the window ({len(view.payments):,})</h2>")
    pay = view.payments
    if len(pay) > MAX_PAYMENTS:
        parts.append(f'<p class="note">The {MAX_PAYMENTS} latest of {len(pay):,} are shown.</p>')
        pay = pay.tail(MAX_PAYMENTS)
    parts.append(table(pay, numeric=("amount", "amount (base)")))
    if view.features is not None:
        parts.append("<h2>Features and population percentile</h2>")
        parts.append('<p class="how">As of the cutoff, from strictly earlier payments; the '
                     "percentile is the share of the population below the value (ties count "
                     "half); the most unusual features come first.</p>")
        feats = view.features
        parts.append(table(feats.head(FEATURES_SHOWN), numeric=("value", "percentile"),
                           shade="percentile"))
        if len(feats) > FEATURES_SHOWN:
            parts.append(f"<details><summary>{len(feats) - FEATURES_SHOWN} more features"
                         "</summary>" + table(feats.iloc[FEATURES_SHOWN:],
                                              numeric=("value", "percentile"),
                                              shade="percentile") + "</details>")
    from finlab import __version__

    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="generator" content="finlab {esc(__version__)}">'
            f"<title>finlab explain: {esc(view.title)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")


MAX_PAYMENTS = 300
