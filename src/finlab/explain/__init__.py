"""An analyst's view of an alert: the money flow around an account (or a whole case), drawn, with
its payments, its features against the population and a detector's reasons, as one offline page.

    import finlab
    page = finlab.explain("data/classroom", account=1234567890123)   # shows inline in Jupyter
    page.save("alert.html")

`finlab.explain` is this module, callable: `finlab.explain(...)` is `finlab.explain.explain(...)`.
The command line's `finlab explain` calls `write_page`.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

__all__ = ["Explanation", "explain", "write_page"]


class Explanation:
    """A computed explanation: `.html` is the page, `.view` what it shows; in a notebook it
    displays the picture and the reasons."""

    def __init__(self, view):
        self.view = view
        self._html = None

    @property
    def html(self) -> str:
        if self._html is None:
            from finlab.explain.page import render

            self._html = render(self.view)
        return self._html

    def save(self, path, *, force: bool = False) -> Path:
        """Write the page atomically; an existing file is refused unless `force`."""
        return write_file(Path(path), self.html, force=force)

    def _repr_html_(self) -> str:
        from finlab.explain.draw import draw_svg
        from finlab.explain.page import reasons_html

        v = self.view
        svg = draw_svg(v.subgraph, v.nodes, roles=v.labelled, highlight=v.highlight,
                       title=f"{v.title}: {v.start:%Y-%m-%d} to {v.as_of:%Y-%m-%d}")
        return f"<div>{svg}{reasons_html(v.reasons, v.detector, v.score, v.score_percentile)}</div>"


def explain(data, account=None, *, case=None, hops: int = 2, days: int | None = None,
            as_of=None, detector: str | None = "rules", params: dict | None = None,
            max_nodes: int | None = None) -> Explanation:
    """Explain one account (or, with `case`, every account of a labelled case) of a dataset (a
    Dataset or a dataset directory): the flow `hops` away within the `days` before `as_of`
    (default: the end of the data; 30 days, or the case's span), and `detector`'s reasons."""
    from finlab.explain.source import open_source
    from finlab.explain.subgraph import MAX_NODES
    from finlab.explain.view import build_view, check_request

    check_request(hops, days, max_nodes or MAX_NODES)
    view = build_view(open_source(data), account, case=case, hops=hops, days=days, as_of=as_of,
                      detector=detector, params=params, max_nodes=max_nodes or MAX_NODES)
    return Explanation(view)


def write_file(path: Path, text: str, *, force: bool = False, inputs=()) -> Path:
    """Write the page atomically, under finlab's output policy: an existing file is replaced
    only with `force` and only if finlab wrote it."""
    from finlab.io import atomic_file
    from finlab.outputs import check_output

    check_output(path, force=force, inputs=inputs, kind="file")
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_page(dataset, out, *, force: bool = False, **options) -> Path:
    """`finlab explain`: check the output before any work, then compute and write."""
    from finlab.errors import InputError
    from finlab.outputs import check_output

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out {out}: the page is HTML; name a .html file")
    check_output(out, force=force, inputs=[dataset], kind="file")
    text = explain(dataset, **options).html
    return write_file(out, text, force=force, inputs=[dataset])


class _CallableModule(types.ModuleType):
    """Lets `finlab.explain(...)` call `explain` while `finlab.explain.page` stays a module."""

    def __call__(self, *args, **kwargs) -> Explanation:
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
