"""The pieces every finlab report is made of: a self-contained HTML page with its sections, tables
and embedded figures, one way to write a number, and one table of top alerts with their reasons
and true roles. The experiment, cooperation and detect reports all build on it, so they look and
read alike.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from finlab.io import atomic_file
from finlab.schema import Labels
from finlab.truth import account_label

NA = "n/a"
FIGSIZE = (7.0, 4.0)
DPI = 90

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1000px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; padding-bottom: .1em; }
h3 { margin-bottom: .3em; }
p.how { color: #555; font-style: italic; margin-top: 0; }
p.note { color: #8a5a00; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.na { color: #999; }
td.suspicious { color: #a00; }
td.reasons { font-size: 0.9em; }
figure { margin: .5em 0 1em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
"""


# ---------------------------------------------------------------------------------------------
# numbers


def number(value: Any) -> float | None:
    """A finite-or-infinite float, or None for anything missing (None, NaN, bools, text)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        got = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(got) else got


def mean_std(value: Any) -> tuple[float | None, float | None]:
    """(mean, std) of a metric given as a plain number or as {"mean", "std"}; None if missing."""
    if isinstance(value, Mapping):
        mean, std = number(value.get("mean")), number(value.get("std"))
        return mean, (std if mean is not None else None)
    return number(value), None


def fmt(value: Any, digits: int = 3, *, sign: bool = False) -> str:
    """A metric as text: "0.412", "0.412 ± 0.031" (over seeds), "+0.050" with `sign`, or "n/a"
    when it is missing; never an invented value."""
    mean, std = mean_std(value)
    if mean is None:
        return NA
    text = f"{mean:+.{digits}f}" if sign else f"{mean:.{digits}f}"
    return text if std is None else f"{text} ± {std:.{digits}f}"


# ---------------------------------------------------------------------------------------------
# HTML


def esc(value: Any) -> str:
    """Text safe inside HTML (None as empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def section(title: str, how: str, body: str) -> str:
    """A titled section: a one-line reading guide in italics, then the body (HTML)."""
    return f"<section><h2>{esc(title)}</h2><p class=\"how\">{esc(how)}</p>{body}</section>"


def note(text: str) -> str:
    """A remark about what is missing or left out."""
    return f'<p class="note">{esc(text)}</p>'


def table(headings: Sequence[str], rows: Iterable[str]) -> str:
    """A table with escaped column headings and rows given as `<tr>` HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headings)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def page(title: str, sections: Iterable[str], intro: str = "") -> str:
    """A whole self-contained page: styles inline, figures embedded, nothing to fetch."""
    lead = f"<p>{esc(intro)}</p>" if intro else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1>{lead}{''.join(sections)}</body></html>\n")


def write_page(path: str | Path, html_text: str) -> Path:
    """Write a page atomically (renamed into place only once complete) and return its path."""
    path = Path(path)
    data = html_text.encode("utf-8")
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------
# figures


@contextlib.contextmanager
def figure(plt, figsize: tuple[float, float] = FIGSIZE) -> Iterator[tuple[Any, Any]]:
    """A figure and its axes, closed whatever happens."""
    fig, ax = plt.subplots(figsize=figsize)
    try:
        yield fig, ax
    finally:
        plt.close(fig)


def png(fig) -> str:
    """The figure as an <img> tag with the PNG embedded in base64."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<figure><img alt="plot" src="data:image/png;base64,{data}"></figure>'


def colors(names: list[str]) -> dict[str, Any]:
    """One stable colour per name, in order."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}


# ---------------------------------------------------------------------------------------------
# alerts


def account_truth(labels: Labels) -> pd.Series:
    """Each labelled account's true role as "typology:role", indexed by account id."""
    la = account_label(labels)
    return la["typology"].astype(str) + ":" + la["role"].astype(str)


def top_alerts(scores: pd.Series, explanations: pd.DataFrame, truth: pd.Series | None,
               top: int, reasons: int = 3) -> pd.DataFrame:
    """The `top` highest scores with their first `reasons` explanations joined by "; " and, when
    the truth is known, each account's role ("ordinary" for unlabelled accounts)."""
    best = scores.nlargest(top)
    why = (explanations.groupby("id", sort=False)["reason"]
           .apply(lambda r: "; ".join(map(str, r.head(reasons)))))
    frame = pd.DataFrame({"id": best.index, "score": best.to_numpy(),
                          "reasons": why.reindex(best.index).fillna("").to_numpy()})
    if truth is not None:
        frame["truth"] = truth.reindex(best.index).fillna("ordinary").to_numpy()
    return frame
