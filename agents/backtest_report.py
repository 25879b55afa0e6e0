"""The backtest's HTML report: one self-contained file, charts drawn as inline SVG, no script and
no network, so it opens anywhere and can be mailed as it is.

Three pictures say more than the table: triggers per hour of event time (old against new), the
suppressions by reason, and the local hour each sent trigger reached its user at. The per-rule
table and the first changed triggers follow.
"""

from __future__ import annotations

import html
from collections import Counter

from agents.backtest import BacktestReport, Side, rule_table
from schemas.outputs import Suppression, Trigger
from schemas.timestamps import format_rfc3339
from streams import backtest

OLD_COLOUR = "#8c8c8c"
NEW_COLOUR = "#d9480f"
WIDTH, HEIGHT, MARGIN = 760, 220, 40
SHOWN_CHANGES = 200


def render(report: BacktestReport, *, recording: str, old_name: str, new_name: str) -> str:
    counted = backtest.counts_by_kind(report.changes)
    summary = ", ".join(f"{count} {kind}" for kind, count in counted.items()) or "no trigger changed"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Nudge backtest</title>",
        "<style>body{font:14px sans-serif;margin:2em;max-width:820px}pre{font-size:12px;overflow-x:auto}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}</style>",
        "</head><body>",
        f"<h1>Backtest of {html.escape(recording)}</h1>",
        f"<p><span style='color:{OLD_COLOUR}'>&#9632; old: {html.escape(old_name)}</span> &nbsp; "
        f"<span style='color:{NEW_COLOUR}'>&#9632; new: {html.escape(new_name)}</span></p>",
        f"<p>{report.messages:,} messages; {html.escape(summary)}.</p>",
        "<h2>Triggers per hour of event time</h2>",
        _lines_chart(_per_hour(report.old), _per_hour(report.new)),
        "<h2>Suppressions by reason</h2>",
        _bars(_reasons(report.old), _reasons(report.new)),
        "<h2>Sends by the user's local hour</h2>",
        _bars({f"{hour:02d}": count for hour, count in sorted(Counter(report.old.local_hours).items())},
              {f"{hour:02d}": count for hour, count in sorted(Counter(report.new.local_hours).items())}, keys=[f"{hour:02d}" for hour in range(24)]),
        "<h2>Per rule</h2>",
        f"<pre>{html.escape(rule_table(report))}</pre>",
        f"<h2>Changed triggers (the first {SHOWN_CHANGES}; all are in the diff file)</h2>",
        _changes(report.changes[:SHOWN_CHANGES]),
        "</body></html>",
    ]
    return "\n".join(parts)


def _per_hour(side: Side) -> Counter[int]:
    hours: Counter[int] = Counter()
    for output in side.outputs:
        if isinstance(output, Trigger):
            hours[output.ts_ms // 3_600_000] += 1
    return hours


def _reasons(side: Side) -> dict[str, int]:
    reasons: Counter[str] = Counter()
    for output in side.outputs:
        if isinstance(output, Suppression):
            reasons[output.reason.value] += 1
    return dict(sorted(reasons.items()))


def _lines_chart(old: Counter[int], new: Counter[int]) -> str:
    hours = sorted(old.keys() | new.keys())
    if not hours:
        return "<p>No triggers.</p>"
    first, last = hours[0], hours[-1]
    top = max(max(old.values(), default=0), max(new.values(), default=0), 1)
    span = max(last - first, 1)

    def points(counts: Counter[int]) -> str:
        return " ".join(
            f"{MARGIN + (hour - first) * (WIDTH - 2 * MARGIN) / span:.1f},{HEIGHT - MARGIN - counts.get(hour, 0) * (HEIGHT - 2 * MARGIN) / top:.1f}"
            for hour in range(first, last + 1)
        )

    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' role='img'>"
        f"{_axes(top)}"
        f"<polyline fill='none' stroke='{OLD_COLOUR}' stroke-width='1.5' points='{points(old)}'/>"
        f"<polyline fill='none' stroke='{NEW_COLOUR}' stroke-width='1.5' points='{points(new)}'/>"
        f"<text x='{MARGIN}' y='{HEIGHT - 8}' font-size='11'>{html.escape(format_rfc3339(first * 3_600_000)[:13])}h</text>"
        f"<text x='{WIDTH - MARGIN}' y='{HEIGHT - 8}' font-size='11' text-anchor='end'>{html.escape(format_rfc3339(last * 3_600_000)[:13])}h</text>"
        "</svg>"
    )


def _bars(old: dict[str, int], new: dict[str, int], *, keys: list[str] | None = None) -> str:
    names = keys if keys is not None else sorted(old.keys() | new.keys())
    if not names or not (old or new):
        return "<p>None.</p>"
    top = max(max(old.values(), default=0), max(new.values(), default=0), 1)
    slot = (WIDTH - 2 * MARGIN) / len(names)
    bar = slot * 0.4
    shapes = [_axes(top)]
    for index, name in enumerate(names):
        x = MARGIN + index * slot
        for offset, counts, colour in ((0.1, old, OLD_COLOUR), (0.5, new, NEW_COLOUR)):
            height = counts.get(name, 0) * (HEIGHT - 2 * MARGIN) / top
            shapes.append(
                f"<rect x='{x + offset * slot:.1f}' y='{HEIGHT - MARGIN - height:.1f}' width='{bar:.1f}' height='{height:.1f}' fill='{colour}'>"
                f"<title>{html.escape(name)}: {counts.get(name, 0)}</title></rect>"
            )
        shapes.append(f"<text x='{x + slot / 2:.1f}' y='{HEIGHT - MARGIN + 14}' font-size='10' text-anchor='middle'>{html.escape(name)}</text>")
    return f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' role='img'>{''.join(shapes)}</svg>"


def _axes(top: int) -> str:
    return (
        f"<line x1='{MARGIN}' y1='{HEIGHT - MARGIN}' x2='{WIDTH - MARGIN}' y2='{HEIGHT - MARGIN}' stroke='#999'/>"
        f"<line x1='{MARGIN}' y1='{MARGIN}' x2='{MARGIN}' y2='{HEIGHT - MARGIN}' stroke='#999'/>"
        f"<text x='{MARGIN - 4}' y='{MARGIN + 4}' font-size='10' text-anchor='end'>{top}</text>"
        f"<text x='{MARGIN - 4}' y='{HEIGHT - MARGIN}' font-size='10' text-anchor='end'>0</text>"
    )


def _changes(changes: list[backtest.Change]) -> str:
    if not changes:
        return "<p>None.</p>"
    rows = ["<table><tr><th>change</th><th>rule</th><th>user</th><th>old</th><th>new</th></tr>"]
    for change in changes:
        entry = change.to_dict()
        old, new = entry["old"], entry["new"]
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(cell))}</td>"
                for cell in (
                    entry["change"],
                    entry["rule"],
                    entry["user_id"],
                    "" if old is None else f"{old['ts']} {old['outcome']}",
                    "" if new is None else f"{new['ts']} {new['outcome']}",
                )
            )
            + "</tr>"
        )
    rows.append("</table>")
    return "".join(rows)
