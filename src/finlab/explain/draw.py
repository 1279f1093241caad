"""The money-flow picture as an inline SVG: payers left of the explained account, payees right, one
column per hop (networkx places the nodes, matplotlib draws them). Edge width grows with the
amount, edge labels give the count and the date range, the explained account is ringed in black,
and in a labelled world each account is coloured by its role with a legend; without labels no
colour or word about roles appears.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

#: colours of the roles in labelled worlds (suspicious roles warm, look-alikes blue-green)
ROLE_COLOURS = {
    "sender": "#e6550d", "facilitator": "#a50f15", "collector": "#7a0177", "victim": "#fd8d3c",
    "mule": "#d7301f", "intermediary": "#ef3b2c", "source": "#fc9272", "sink": "#67000d",
    "ordinary": "#d9d9d9",
}
#: one cool shade per look-alike class, so two classes in one picture stay apart
LOOK_ALIKE_COLOURS = {
    "family_remittance": "#3182bd", "adult_content": "#31a354", "romance_victims": "#756bb1",
    "payroll": "#9e9ac8", "marketplace_sellers": "#74c476", "charity": "#17becf",
    "cash_businesses": "#08519c",
}
LOOK_ALIKE = "#6baed6"  # a look-alike class without its own shade
PLAIN = "#9ecae1"  # accounts when there are no labels
GROUP = "#f0f0f0"
TALL = 14
SHAPES = {"centre": "o", "account": "o", "folded": "s", "more": "D"}


def role_colour(role: str) -> str:
    if role.startswith("decoy:"):
        return LOOK_ALIKE_COLOURS.get(role.removeprefix("decoy:"), LOOK_ALIKE)
    return ROLE_COLOURS.get(role, "#fdae6b")


def layers(sub, nodes: pd.DataFrame) -> np.ndarray:
    """Column of each node: payers of the centre at -1, their payers at -2, payees at +1 and so
    on; in a case (several centres) the centres are ordered by how money flows between them."""
    column = (nodes["side"] * nodes["hop"]).to_numpy(np.float64)
    centres = nodes.index[nodes["kind"] == "centre"]
    if len(centres) > 1:
        import networkx as nx

        inner = sub.edges[sub.edges["src"].isin(centres) & sub.edges["dst"].isin(centres)]
        graph = nx.DiGraph()
        graph.add_nodes_from(centres)
        graph.add_edges_from(zip(inner["src"], inner["dst"], strict=True))
        condensed = nx.condensation(graph)
        generation = {}
        for g, members in enumerate(nx.topological_generations(condensed)):
            for c in members:
                for node in condensed.nodes[c]["members"]:
                    generation[node] = g
        width = max(generation.values()) if generation else 0
        span = np.array([generation[c] for c in centres], np.float64) - width / 2
        column[centres] = span
        outer = nodes["kind"] != "centre"
        lo, hi = span.min(), span.max()
        column[outer] = np.where(nodes.loc[outer, "side"] < 0,
                                 lo - nodes.loc[outer, "hop"], hi + nodes.loc[outer, "hop"])
    return column


def positions(sub, nodes: pd.DataFrame) -> dict[int, tuple[float, float]]:
    """Node positions: columns from `layers`; within a column nodes are spread evenly, the ones
    exchanging most money nearest the middle line; a column of more than TALL nodes is staggered
    over two sub-columns so the picture stays about half as tall."""
    column = layers(sub, nodes)
    money = (sub.edges.groupby("src")["amount"].sum().add(
        sub.edges.groupby("dst")["amount"].sum(), fill_value=0)).reindex(nodes.index).fillna(0)
    pos = {}
    for x in np.unique(column):
        members = np.flatnonzero(column == x)
        ranked = members[np.lexsort((nodes.index.to_numpy()[members],
                                     -money.to_numpy()[members]))]
        # heaviest in the middle: 0, +1, -1, +2, -2, ...
        k = ranked.size
        slot = np.empty(k, np.int64)
        slot[0::2] = np.arange((k + 1) // 2)
        slot[1::2] = -np.arange(1, k // 2 + 1)
        if k > TALL:
            for i, s in zip(ranked, slot, strict=True):
                pos[int(nodes.index[i])] = (float(x) + (0.22 if s % 2 else -0.22), s * 0.55)
        else:
            for i, s in zip(ranked, slot, strict=True):
                pos[int(nodes.index[i])] = (float(x), float(s))
    return pos


def picture_size(pos: dict) -> tuple[float, float]:
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    width = 3.2 + 2.3 * (max(xs) - min(xs) if xs else 0)
    return min(max(width, 6.0), 16.0), min(max(2.0 + 0.6 * np.ptp(ys), 4.0), 22.0)


def edge_label(count: int, first: int, last: int) -> str:
    """"3× 02 Mar–19 Mar": how many payments and when."""
    count = int(count)
    a = pd.Timestamp(int(first), unit="s").strftime("%d %b")
    b = pd.Timestamp(int(last), unit="s").strftime("%d %b")
    return f"{count}× {a}" if a == b else f"{count}× {a}–{b}"


def draw_svg(sub, nodes: pd.DataFrame, *, roles: bool, highlight=(), edge_labels: bool = True,
             title: str = "") -> str:
    """The picture as an SVG string. `nodes` (indexed by node) carries label, and role when
    `roles`; `highlight` names nodes a graph detector pointed at (ringed in red, dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    pos = positions(sub, nodes)
    edges = sub.edges
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "finlab", "font.size": 8}):
        width, height = picture_size(pos)
        legend_width = 2.2  # inches on the right for the legend
        fig = plt.figure(figsize=(width + legend_width, height))
        ax = fig.add_axes((0.0, 0.0, width / (width + legend_width), 0.96 if title else 1.0))
        try:
            amount = edges["amount"].to_numpy(np.float64)
            widths = 0.6 + 5.0 * np.log1p(amount) / max(np.log1p(amount).max(), 1e-9) \
                if len(edges) else np.zeros(0)
            pairs = set(zip(edges["src"], edges["dst"], strict=True))
            centre = set(nodes.index[nodes["kind"] == "centre"])
            few = len(edges) <= 30
            for (s, d, count, first, last), w in zip(
                    edges[["src", "dst", "count", "first", "last"]].itertuples(index=False),
                    widths, strict=True):
                near = s in centre or d in centre
                bend = 0.15 if (d, s) in pairs else 0.0
                ax.annotate("", xy=pos[d], xytext=pos[s], arrowprops={
                    "arrowstyle": "-|>", "lw": w if near else w * 0.6, "color": "#555",
                    "alpha": 0.6 if near else 0.25, "mutation_scale": 8 + w * 2,
                    "shrinkA": 9, "shrinkB": 11, "connectionstyle": f"arc3,rad={bend}"})
                if edge_labels and (near or few):
                    (x0, y0), (x1, y1) = pos[s], pos[d]
                    mx, my = x0 + 0.55 * (x1 - x0), y0 + 0.55 * (y1 - y0) + bend * 0.3
                    ax.text(mx, my, edge_label(count, first, last), fontsize=6,
                            ha="center", va="center", color="#333", zorder=5,
                            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                                  "alpha": 0.8})
            kinds = nodes["kind"].to_numpy()
            colours = np.where(np.isin(kinds, ["folded", "more"]), GROUP,
                               [role_colour(str(r)) for r in nodes["role"]] if roles else PLAIN)
            xy = np.array([pos[int(n)] for n in nodes.index]).reshape(-1, 2)
            for kind in ("centre", "account", "folded", "more"):  # one scatter per marker
                mine = kinds == kind
                if mine.any():
                    centre = kind == "centre"
                    ax.scatter(xy[mine, 0], xy[mine, 1], s=380 if centre else 170,
                               marker=SHAPES[kind], c=list(colours[mine]), zorder=3,
                               edgecolors="black" if centre else "#666",
                               linewidths=3.0 if centre else 0.8)
            ringed = nodes.index.isin(list(highlight))
            if ringed.any():
                ax.scatter(xy[ringed, 0], xy[ringed, 1], s=400, marker="o", facecolors="none",
                           edgecolors="#c00", linewidths=1.2, linestyle="--", zorder=2)
            for node, row in nodes.iterrows():
                x, y = pos[int(node)]
                kind = row["kind"]
                side = x - round(x) if abs(x - round(x)) > 1e-9 else np.sign(round(x))
                if kind == "centre" or side == 0:
                    offset, ha, va = (0, -10), "center", "top"
                else:
                    offset, ha, va = ((-8, 0), "right", "center") if side < 0 else \
                        ((8, 0), "left", "center")
                ax.annotate(str(row["label"]), (x, y), xytext=offset, textcoords="offset points",
                            ha=ha, va=va, fontsize=6.5, zorder=4, linespacing=1.1,
                            fontweight="bold" if kind == "centre" else "normal")
            handles = [Line2D([], [], marker="o", ls="", mfc=PLAIN if not roles else "white",
                              mec="black", mew=2.5, ms=9, label="explained account"),
                       Line2D([], [], marker="s", ls="", mfc=GROUP, mec="#666", ms=7,
                              label="heavy counterparties, folded"),
                       Line2D([], [], marker="D", ls="", mfc=GROUP, mec="#666", ms=6,
                              label="more accounts, folded")]
            if len(highlight):
                handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec="#c00", ms=11,
                                      label="named by the detector"))
            if roles:
                present = sorted({str(r) for r, k in zip(nodes["role"], nodes["kind"],
                                                          strict=True)
                                  if k in ("centre", "account")})
                handles += [Line2D([], [], marker="o", ls="", mfc=role_colour(r), mec="#666",
                                   ms=8, label=f"role: {r}") for r in present]
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                      fontsize=7, frameon=False)
            xs = [p[0] for p in pos.values()]
            ys = [p[1] for p in pos.values()]
            ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
            ax.set_ylim(min(ys) - 0.9, max(ys) + 0.6)
            ax.set_axis_off()
            if title:
                ax.set_title(title, fontsize=9, loc="left")
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})  # no "tight": one draw
        finally:
            plt.close(fig)
    return inline(buf.getvalue())


def inline(svg: str) -> str:
    """The SVG without its XML prologue, scaled to the page width, and lighter: coordinates to
    a tenth of a point and no line breaks (a report holds dozens of these)."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"(\d\.\d)\d+", r"\1", svg)
    svg = re.sub(r"\s*\n\s*", " ", svg)
    return re.sub(r"<svg", '<svg style="max-width:100%;height:auto"', svg, count=1)
