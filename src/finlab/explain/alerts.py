"""The experiment report's "Alerts" section: each top alert (the best detector's top 10, every
other detector's top 3) with the picture of the money flow around it and the detector's reasons,
as `finlab explain` draws them. An account alerted by several detectors is drawn once."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
import pandas as pd

from finlab.schema import Dataset

BEST_TOP, OTHER_TOP = 10, 3
REPORT_NODES = 25  # fewer nodes than a page: a report holds dozens of pictures
REPORT_HOPS = 2
REPORT_DAYS = 30


def best_detector(metrics: Mapping, keys: list[str]) -> str:
    """The detector with the highest account-level average precision (the first on ties)."""
    def ap(key):
        value = ((metrics.get("detectors") or {}).get(key) or {}).get("account", {}) \
            .get("average_precision")
        value = value.get("mean") if isinstance(value, Mapping) else value
        return -np.inf if value is None or not np.isfinite(value) else float(value)

    return max(keys, key=ap)


def picks(metrics: Mapping, scores: Mapping[str, pd.Series]) -> list[tuple[str, int, float]]:
    """(detector, account, score) of the alerts to draw, the best detector first; accounts at a
    detector's lowest score are no alerts (a detector that found nothing has none)."""
    keys = list(scores)
    if not keys:
        return []
    best = best_detector(metrics, keys)
    out = []
    for key in [best, *[k for k in keys if k != best]]:
        s = scores[key].dropna()
        top = s[s > s.min()].nlargest(BEST_TOP if key == best else OTHER_TOP)
        out += [(key, int(i), float(v)) for i, v in top.items()]
    return out


def alerts_html(data: Dataset, cutoff: pd.Timestamp, metrics: Mapping,
                scores: Mapping[str, pd.Series], explanations: Mapping[str, pd.DataFrame], *,
                hops: int = REPORT_HOPS, days: int = REPORT_DAYS,
                max_nodes: int = REPORT_NODES) -> str:
    """The section's body: one block per alert with its picture (the money flow in the `days`
    before `cutoff`) and its reasons. `scores` and `explanations` are per detector."""
    from finlab.explain.draw import draw_svg
    from finlab.explain.page import reasons_html
    from finlab.explain.source import open_source, seconds
    from finlab.explain.view import named_accounts, picture, role_of

    chosen = picks(metrics, scores)
    if not chosen:
        return '<p class="note">No alerts were given.</p>'
    source = open_source(data)
    start = cutoff - pd.Timedelta(days=days)
    t = seconds(data.transactions["ts"])
    window = data.transactions[(t >= int(start.timestamp())) & (t < int(cutoff.timestamp()))]
    roles = role_of(data.labels) if data.labels is not None else None
    ids = pd.Index(source.account_ids)
    drawn: dict[int, str] = {}
    blocks = [f'<p class="how">The money flow in the {days} days before {cutoff:%Y-%m-%d} '
              f"around each alert, up to {hops} hops: payers left, payees right, the alerted "
              "account ringed in black, heavy counterparties and further accounts folded"
              + (", accounts coloured by their true role" if roles is not None else "")
              + ".</p>"]
    for detector, account, score in chosen:
        anchor = f"alert-{account}"
        title = f"{detector}: account {account} (score {score:.4g})"
        if roles is not None:
            title += f", truly {roles.get(account, 'ordinary')}"
        blocks.append(f'<h3 id="{anchor}-{html.escape(detector)}">{html.escape(title)}</h3>')
        reasons = explanations.get(detector)
        mine = reasons[reasons["id"] == account] if reasons is not None else None
        if account in drawn:
            blocks.append(f'<p>Picture: see <a href="#{drawn[account]}">above</a>.</p>')
        else:
            pos = ids.get_indexer([account])
            if pos[0] < 0:
                blocks.append('<p class="note">Not in the data.</p>')
            else:
                sub, nodes = picture(source, window, pos, hops, max_nodes, roles)
                highlight = []
                if mine is not None and len(mine):
                    named = named_accounts(mine, source)
                    highlight = sorted({int(n) for n in sub.node_of[named] if n > 0})
                svg = draw_svg(sub, nodes, roles=roles is not None, highlight=highlight)
                blocks.append(f'<figure id="{anchor}">{svg}</figure>')
                drawn[account] = anchor
        blocks.append(reasons_html(mine, detector))
    return "".join(blocks)
