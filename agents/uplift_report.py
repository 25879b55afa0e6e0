"""Uplift per rule as a user reads it: the JSON of ``GET /uplift`` and the table of ``nudge uplift``.

Both come from the same counts (streams/uplift.py): the partitions' own, added up over the
workers that own them, or an offline replay's. A report says which partitions it covers, so an
answer missing a worker that did not reply is never mistaken for the whole shop.
"""

from __future__ import annotations

from typing import Any

from streams.uplift import RuleOutcomes, estimate

NOISE_NOTE = "an interval that contains 0 means the data cannot tell this rule's effect from none"


def uplift_json(outcomes: dict[str, RuleOutcomes], *, partitions: list[int], of: int) -> dict[str, Any]:
    """The whole answer: per rule its groups, rates, uplift and 95 % interval; the coverage."""
    missing = sorted(set(range(of)) - set(partitions))
    return {
        "rules": [estimate(rule, outcomes[rule]).to_dict() for rule in sorted(outcomes)],
        "partitions": sorted(partitions),
        "missing_partitions": missing,
        "complete": not missing,
        "note": NOISE_NOTE,
    }


def local_json(outcomes: dict[str, RuleOutcomes], *, partitions: list[int]) -> dict[str, Any]:
    """One worker's counts for the partitions it owns, for the worker that adds them up."""
    return {"partitions": sorted(partitions), "rules": {rule: counts.to_list() for rule, counts in sorted(outcomes.items())}}


def from_local(answer: dict[str, Any]) -> tuple[list[int], dict[str, RuleOutcomes]]:
    """The partitions and counts of a ``local_json`` answer."""
    return [int(p) for p in answer["partitions"]], {rule: RuleOutcomes.from_list(counts) for rule, counts in answer["rules"].items()}


def uplift_table(report: dict[str, Any]) -> str:
    """``uplift_json`` as aligned text, one rule a line, and what it covers."""
    header = ["rule", "treated sent", "converted", "rate", "held out", "converted", "rate", "uplift", "95 % interval", ""]
    rows = [header]
    for entry in report["rules"]:
        treated, holdout = entry["treated"], entry["holdout"]
        interval = entry["ci95"]
        rows.append(
            [
                entry["rule"],
                f"{treated['sent']:,}",
                f"{treated['converted']:,}",
                _pct(treated["rate"]),
                f"{holdout['sent']:,}",
                f"{holdout['converted']:,}",
                _pct(holdout["rate"]),
                _points(entry["uplift"]),
                "" if interval is None else f"{_points(interval[0])} to {_points(interval[1])}",
                "significant" if entry["significant"] else ("no holdout yet" if interval is None else "noise"),
            ]
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if column == 0 else cell.rjust(width) for column, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in rows]
    if not report["rules"]:
        lines.append("(no rule has sent or held out anything yet)")
    lines.append("uplift: conversions per send, treated minus held out, in percentage points; " + report["note"])
    if not report["complete"]:
        lines.append(f"INCOMPLETE: partitions {report['missing_partitions']} did not answer")
    return "\n".join(lines)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}"
