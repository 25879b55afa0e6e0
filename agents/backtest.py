"""``nudge backtest RECORDING --rules OLD --against NEW``: both rule files over one recording,
offline, in one pass, and what changed.

Each line of the recording is read and decoded once and fed to two offline replays (streams/
replay.py), one per book, so a backtest runs at offline-replay speed for the two of them; the
comparison itself is streams/backtest.py. It writes the per-rule table (for the terminal), the
trigger diff as JSON Lines (for tools) and a self-contained HTML report (agents/backtest_report.py).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import orjson

from agents.errors import SettingsError
from agents.progress import PROGRESS_LINES
from agents.recording import BadLine, open_recording, read_recording
from schemas.outputs import DeadLetter, Output, Response, Trigger
from streams import backtest
from streams.config import ProfileConfig
from streams.replay import OfflineReplay
from streams.rules.spec import RuleBook


@dataclass(slots=True)
class Side:
    """One book's run: its outputs, each sent trigger's local hour, and the rule summaries."""

    outputs: list[Output] = field(default_factory=list)
    local_hours: list[int] = field(default_factory=list)
    rules: dict[str, backtest.RuleSummary] = field(default_factory=dict)


@dataclass(slots=True)
class BacktestReport:
    old: Side
    new: Side
    changes: list[backtest.Change]
    messages: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)
    elapsed_s: float = 0.0


def run_backtest(
    path: Path,
    *,
    old: RuleBook,
    new: RuleBook,
    partitions: int,
    profile_config: ProfileConfig,
    max_future_skew_ms: int,
    progress: Callable[[int, int, float], None] | None = None,
) -> BacktestReport:
    """Both books over ``path``; the cycle collector off, as in the offline replay (agents/replay.py)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(path, old, new, partitions, profile_config, max_future_skew_ms, progress)
    finally:
        if was_enabled:
            gc.enable()


def _run(
    path: Path,
    old: RuleBook,
    new: RuleBook,
    partitions: int,
    profile_config: ProfileConfig,
    max_future_skew_ms: int,
    progress: Callable[[int, int, float], None] | None,
) -> BacktestReport:
    replays = [OfflineReplay(book, partitions=partitions, profile_config=profile_config, max_future_skew_ms=max_future_skew_ms) for book in (old, new)]
    sides = [Side(), Side()]
    total = _count_lines(path) if progress is not None else 0
    messages, lines, bad_lines = 0, 0, []
    started = time.perf_counter()
    try:
        with open_recording(path, "r") as source:
            for item in read_recording(source):
                lines += 1
                if isinstance(item, BadLine):
                    bad_lines.append(item)
                    continue
                messages += 1
                for replay, side in zip(replays, sides):
                    _keep(side, replay.feed(item.message))
                if progress is not None and not lines % PROGRESS_LINES:
                    progress(lines, total, time.perf_counter() - started)
            for replay, side in zip(replays, sides):
                _keep(side, replay.finish())
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except EOFError:
        raise SettingsError(f"{path} ends in the middle of its gzip stream") from None
    for replay, side in zip(replays, sides):
        side.rules = backtest.summarize(side.outputs, replay.outcomes())
        side.local_hours = _local_hours(replay, side.outputs)
    changes = backtest.diff(backtest.decisions(sides[0].outputs), backtest.decisions(sides[1].outputs))
    if progress is not None:
        progress(lines, total, time.perf_counter() - started)
    return BacktestReport(sides[0], sides[1], changes, messages, bad_lines, time.perf_counter() - started)


def _keep(side: Side, outputs: Sequence[Output | DeadLetter]) -> None:
    for output in outputs:
        if not isinstance(output, (DeadLetter, Response)):  # the same for both books; a response is never published
            side.outputs.append(output)


def _local_hours(replay: OfflineReplay, outputs: list[Output]) -> list[int]:
    """The local hour each sent trigger reached its user at, by the offset of their latest event
    (a user erased by the end has none, and is left out)."""
    offsets: dict[str, int] = {}
    for _, runner in replay.partitions():
        for user_id, state in runner.engine.store.items():
            offsets[user_id] = state.profile.utc_offset_min
    hours = []
    for output in outputs:
        if isinstance(output, Trigger) and output.user_id in offsets:
            hours.append(((output.ts_ms // 60_000 + offsets[output.user_id]) // 60) % 24)
    return hours


def write_changes(report: BacktestReport, out: Path) -> None:
    try:
        with out.open("wb") as sink:
            for change in report.changes:
                sink.write(orjson.dumps(change.to_dict()) + b"\n")
    except OSError as exc:
        raise SettingsError(f"cannot write {out}: {exc.strerror or exc}") from None


def rule_table(report: BacktestReport) -> str:
    """Per rule, old, new and the difference: the terminal's summary."""
    rows = [["rule", "triggers", "suppressed", "conversions", "conv. rate", "uplift (95 % interval)"]]
    for rule in sorted(report.old.rules.keys() | report.new.rules.keys()):
        old, new = report.old.rules.get(rule, backtest.RuleSummary()), report.new.rules.get(rule, backtest.RuleSummary())
        rows.append(
            [
                rule,
                _compare(old.triggers, new.triggers),
                _compare(sum(old.suppressions.values()), sum(new.suppressions.values())) + _reasons(old, new),
                _compare(old.conversions, new.conversions),
                f"{_pct(old.conversion_rate)} -> {_pct(new.conversion_rate)}",
                f"{_uplift(old)} -> {_uplift(new)}",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    counted = backtest.counts_by_kind(report.changes)
    lines.append("changed triggers: " + (", ".join(f"{count} {kind}" for kind, count in counted.items()) or "none"))
    return "\n".join(lines)


def _compare(old: int, new: int) -> str:
    return f"{old} -> {new} ({new - old:+d})"


def _reasons(old: backtest.RuleSummary, new: backtest.RuleSummary) -> str:
    changed = [
        f"{reason} {new.suppressions.get(reason, 0) - old.suppressions.get(reason, 0):+d}"
        for reason in sorted(old.suppressions.keys() | new.suppressions.keys())
        if new.suppressions.get(reason, 0) != old.suppressions.get(reason, 0)
    ]
    return f" [{', '.join(changed)}]" if changed else ""


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _uplift(summary: backtest.RuleSummary) -> str:
    uplift = summary.uplift
    if uplift is None or uplift.uplift is None:
        return "-"
    if uplift.low is None or uplift.high is None:
        return f"{uplift.uplift * 100:+.1f} pp"
    return f"{uplift.uplift * 100:+.1f} pp [{uplift.low * 100:+.1f}, {uplift.high * 100:+.1f}]"


def _count_lines(path: Path) -> int:
    with open_recording(path, "r") as source:
        return sum(1 for _ in source)
