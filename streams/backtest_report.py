"""A self-contained HTML report of a backtest: tables and matplotlib plots embedded as base64 PNGs.

The file needs nothing beside it (no scripts, no external images), so an auditor can attach it to
a change ticket as it is.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor.backtest import BacktestDiff, RuleChange


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(diff: BacktestDiff) -> dict[str, str]:
    """Two plots as base64 PNG: alert volume per day, and alerts added/removed/changed per rule."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out: dict[str, str] = {}
    days = diff.days()
    before = [sum(old[d] for old, _ in diff.per_day.values()) for d in days]
    after = [sum(new[d] for _, new in diff.per_day.values()) for d in days]
    figure, axes = plt.subplots(figsize=(8, 3.2))
    labels = [d.isoformat() for d in days]
    positions = range(len(days))
    axes.bar([p - 0.2 for p in positions], before, width=0.4, label="before")
    axes.bar([p + 0.2 for p in positions], after, width=0.4, label="after")
    axes.set_xticks(list(positions), labels, rotation=45, ha="right")
    axes.set_ylabel("alerts")
    axes.set_title("Alert volume per day (UTC)")
    axes.legend()
    out["volume per day"] = _png(figure)
    plt.close(figure)
    touched = [r for r in diff.by_rule if r.touched] or list(diff.by_rule)
    figure, axes = plt.subplots(figsize=(8, 0.5 + 0.45 * max(1, len(touched))))
    names = [r.rule_id for r in touched]
    rows = range(len(touched))
    axes.barh(
        [r - 0.25 for r in rows],
        [len(r.added) for r in touched],
        height=0.25,
        label="added",
        color="tab:green",
    )
    axes.barh(
        list(rows), [len(r.removed) for r in touched], height=0.25, label="removed", color="tab:red"
    )
    axes.barh(
        [r + 0.25 for r in rows],
        [len(r.changed) for r in touched],
        height=0.25,
        label="changed",
        color="tab:orange",
    )
    axes.set_yticks(list(rows), names)
    axes.set_xlabel("alerts")
    axes.set_title("Alerts added, removed and changed per rule")
    axes.legend()
    out["changes per rule"] = _png(figure)
    plt.close(figure)
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _row(cells: Sequence[object], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in cells) + "</tr>"


def rule_rows(change: RuleChange) -> list[str]:
    """The cells of one rule's line, shared by the terminal table and the HTML report."""
    lb, la = change.labels_before, change.labels_after
    db, da = change.decided_before, change.decided_after
    return [
        change.rule_id + (" (shadow)" if change.shadow else ""),
        str(change.before),
        str(change.after),
        f"+{len(change.added)}",
        f"-{len(change.removed)}",
        f"~{len(change.changed)}",
        f"{_pct(lb.precision if lb else None)} -> {_pct(la.precision if la else None)}",
        f"{_pct(lb.recall if lb else None)} -> {_pct(la.recall if la else None)}",
        f"{_pct(db.precision if db else None)} -> {_pct(da.precision if da else None)}",
        str(len(change.false_positives_removed)),
        str(len(change.confirmed_lost)),
    ]


def shadow_line(rule_id: str, mine: int, live: int, overlap: int) -> str:
    return (
        f"shadow rule {rule_id}: {mine} alert(s), {overlap} on events live rules of its category "
        f"also alert on ({live} live alert(s)); {mine - overlap} would be new if it went live"
    )


HEADERS = [
    "rule",
    "before",
    "after",
    "added",
    "removed",
    "changed",
    "precision (labels)",
    "recall (labels)",
    "precision (decisions)",
    "false positives removed",
    "confirmed cases lost",
]


def render_html(diff: BacktestDiff, title: str, events: int) -> str:
    """The whole report as one HTML string."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
        "td:first-child{text-align:left}.lost{background:#fdd;font-weight:bold;padding:1em}"
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{events:,} events; {diff.added} alerts added, {diff.removed} removed, "
        f"{diff.changed} changed.</p>",
    ]
    lost = diff.confirmed_lost
    if lost:
        parts.append(
            f"<div class='lost'>WARNING: {len(lost)} confirmed case(s) would no longer raise an "
            "alert: " + ", ".join(html.escape(f"{a.rule_id} {a.alert_id}") for a in lost) + "</div>"
        )
    for rule_id, mine, live, overlap in diff.shadow_vs_live():
        parts.append(f"<p>{html.escape(shadow_line(rule_id, mine, live, overlap))}</p>")
    parts.append("<h2>Per rule</h2><table>" + _row(HEADERS, "th"))
    parts.extend(_row(rule_rows(change)) for change in diff.by_rule)
    parts.append("</table>")
    days = diff.days()
    parts.append("<h2>Alert volume per day</h2><table>" + _row(["rule", *days], "th"))
    for rule_id, (old, new) in diff.per_day.items():
        parts.append(_row([rule_id, *(f"{old[d]} -> {new[d]}" for d in days)]))
    parts.append("</table>")
    for name, data in plots(diff).items():
        parts.append(f"<h2>{html.escape(name.capitalize())}</h2>")
        parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>")
    parts.append("<h2>Changed alerts</h2><ul>")
    for change in diff.by_rule:
        for item in change.changed:
            what = ", ".join(
                f"{f}: {getattr(item.before, f)} -> {getattr(item.after, f)}" for f in item.fields
            )
            parts.append(f"<li>{html.escape(change.rule_id)}: {html.escape(what)}</li>")
    parts.append("</ul></body></html>")
    return "\n".join(parts)


def write_report(path: Path, diff: BacktestDiff, title: str, events: int) -> None:
    path.write_text(render_html(diff, title, events), encoding="utf-8")
