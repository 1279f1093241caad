"""The cooperation report: one self-contained page with the levels side by side (each as a change
from the siloed bank), metric and detection time against level, the sweeps, and what each party
saw."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from finlab.cooperation.measure import HEADLINE
from finlab.cooperation.simulate import LEVEL_NAMES
from finlab.reporting import colors, esc, figure, fmt, note, page, png, section, table, write_page

LABELS = {"offender_recall": "offender recall", "sender_recall": "sender recall",
          "facilitator_recall": "facilitator recall", "offender_precision": "offender precision",
          "average_precision": "average precision", "median_days_to_detection": "days to detect",
          "networks_found": "networks found", "network_coverage": "network coverage",
          "str_conversion_rate": "STR conversion"}


def _change(v) -> str:
    """The change from L0 in brackets after a level's value (nothing when unknown)."""
    return "" if v is None else f" ({fmt(v, sign=True)})"


def _levels_table(key: str, levels: Mapping) -> str:
    rows = []
    for lv, m in levels.items():
        ch = m.get("change_from_L0", {})
        cells = "".join(f'<td class="num">{fmt(m.get(k))}{_change(ch.get(k)) if lv != "L0" else ""}'
                        "</td>" for k in HEADLINE)
        rows.append(f"<tr><td>{esc(lv)} {esc(LEVEL_NAMES[lv])}</td>"
                    f'<td class="num">{m.get("strs", 0)}</td>{cells}</tr>')
    return f"<h3>{esc(key)}</h3>" + table(["level", "STRs", *(LABELS[m] for m in HEADLINE)], rows)


def _against_level(plt, detectors: Mapping, metric: str, ylabel: str) -> str:
    names = list(detectors)
    palette = colors(names)
    with figure(plt, (6.0, 3.2)) as (fig, ax):
        for name in names:
            levels = detectors[name]
            xs = [lv for lv in levels if levels[lv].get(metric) is not None]
            ax.plot(xs, [levels[lv][metric] for lv in xs], marker="o", label=name,
                    color=palette[name])
        ax.set_xlabel("cooperation level")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=.3)
        ax.legend(fontsize=8)
        return png(fig)


def _sweep_plot(plt, key: str, sweep: Mapping) -> str:
    runs = sweep["runs"]
    levels = list(runs[0]["levels"]) if runs else []
    palette = colors(levels)
    with figure(plt, (6.0, 3.0)) as (fig, ax):
        xs = [str(r["value"]) for r in runs]
        for lv in levels:
            ys = [r["levels"][lv]["offender_recall"] for r in runs]
            ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", label=lv,
                    color=palette[lv])
        ax.set_xlabel(key)
        ax.set_ylabel("offender recall")
        ax.set_title(f"{key} ({sweep['detector']})")
        ax.grid(alpha=.3)
        ax.legend(fontsize=8, ncol=len(levels))
        return png(fig)


def _seen_section(seen: Mapping, privacy: bool) -> str:
    rows = []
    for key, levels in seen.items():
        for lv, s in levels.items():
            banks = s.get("bank", {})
            tx = [b["transactions"] for b in banks.values()]
            fius = s.get("fiu", {})
            fiu_text = "; ".join(
                f"{name}: {f['transactions']} transactions, {f['strs_received']} STRs, "
                f"{f['named_accounts']} STR subjects by id, {f['other_accounts']} other accounts "
                f"as {f.get('other_accounts_as', 'account ids')}"
                for name, f in fius.items()) or "none"
            rows.append(f"<tr><td>{esc(key)}</td><td>{esc(lv)}</td>"
                        f'<td class="num">{len(banks)}</td>'
                        f'<td class="num">{min(tx) if tx else 0}-{max(tx) if tx else 0}</td>'
                        f'<td class="num">{s.get("lists_sent", 0)}</td>'
                        f'<td class="num">{s.get("disseminated", 0)}</td>'
                        f"<td>{esc(', '.join(s.get('keywords', [])) or 'none')}</td>"
                        f"<td>{esc(fiu_text)}</td></tr>")
    how = ("At the last filing. A bank sees every payment of its customers and, of a counterparty, "
           "only the payment message; an FIU sees the transactions behind its STRs and its "
           "cross-border register; the pool sees all participating banks. ")
    how += ("Privacy was on: outside a party's own customers or STR subjects, accounts appeared "
            "only as keyed hashes, and lists carried hashes." if privacy else
            "Privacy was off: parties exchanged account ids.")
    return section("5. What each party saw", how, table(
        ["detector", "level", "banks", "transactions per bank view", "list entries sent",
         "accounts disseminated", "keywords sent", "FIU views"], rows))


def render_cooperation_report(result: Mapping) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    detectors = result.get("detectors", {})
    settings = result.get("settings", {})
    with plt.rc_context({"font.size": 9}):
        recall_img = _against_level(plt, detectors, "offender_recall", "offender recall")
        precision_img = _against_level(plt, detectors, "offender_precision",
                                       "offender precision")
        days_img = _against_level(plt, detectors, "median_days_to_detection",
                                  "median days to detection")
        networks_img = _against_level(plt, detectors, "networks_found",
                                      "facilitator networks found")
        sweep_imgs = [f"<h3>{esc(k)}: {esc(', '.join(str(r['value']) for r in v['runs']))}"
                      f"</h3>" + _sweep_plot(plt, k, v) for k, v in result.get("sweeps", {}).items()]
    setup = (f"<p>Filings at {len(result.get('filings', []))} checkpoints "
             f"({esc(', '.join(f[:10] for f in result.get('filings', [])))}); each bank files "
             f"at most {settings.get('review_capacity')} STRs per filing; "
             f"{settings.get('banks_taking_part', 1) * 100:.0f}% of banks take part; feedback "
             f"after {settings.get('feedback', {}).get('delay_days')} days with recall "
             f"{settings.get('feedback', {}).get('recall')}; label noise "
             f"{settings.get('label_noise')}; adaptation {settings.get('adaptation')}.</p>")
    sections = [
        section("1. Set-up", "The same detectors and the same review capacity at every level; "
                 "an offender counts as detected when a bank files an STR on it.", setup),
        section("2. Levels", "Offenders are OCSE senders and facilitator-side accounts active "
                 "before the last filing. In brackets: the change from L0.",
                 "".join(_levels_table(k, v) for k, v in detectors.items())),
        section("3. Metrics against level", "Higher is better except days to detection.",
                 recall_img + precision_img + networks_img + days_img),
        section("4. Sweeps", "Each sweep changes one setting and runs every level with the "
                 "first detector.", "".join(sweep_imgs) or note("No sweeps in this experiment.")),
        _seen_section(result.get("seen", {}), bool(settings.get("privacy"))),
    ]
    return page(f"finlab cooperation: {result.get('experiment', '')}", sections,
                intro=result.get("description", ""))


def write_cooperation_report(path: Path, result: Mapping) -> Path:
    """Write the page atomically and return its path."""
    return write_page(path, render_cooperation_report(result))
