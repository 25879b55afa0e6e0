"""Two rule books over the same events, compared: per rule what each decided, and trigger by
trigger what changed. Pure: the outputs of two offline replays in, the comparison out, so the
same recording and rule files give the same report (agents/backtest.py runs the replays).

A trigger is known by its id, which derives from the user, the rule and what caused it, so the
same cause under both books names the same trigger: it can be added (only the new book decided
it), removed (only the old one), retimed (decided at another moment) or decided otherwise (sent
by one, suppressed by the other, or suppressed for another reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from schemas.outputs import Conversion, ConversionGroup, Output, Suppression, Trigger
from schemas.timestamps import format_rfc3339
from streams.uplift import RuleOutcomes, Uplift, estimate

SENT = "sent"


@dataclass(frozen=True, slots=True)
class Decision:
    """What one book decided about one trigger: when, and ``sent`` or the suppression's reason."""

    rule: str
    user_id: str
    ts_ms: int
    outcome: str

    def to_dict(self) -> dict[str, Any]:
        return {"ts": format_rfc3339(self.ts_ms), "outcome": self.outcome}


def decisions(outputs: Iterable[Output]) -> dict[str, Decision]:
    """Every trigger and suppression by trigger id; an id decided twice (a user erased who came
    back to the same campaign) keeps its later decision."""
    found: dict[str, Decision] = {}
    for output in outputs:
        if isinstance(output, Trigger):
            found[output.trigger_id] = Decision(output.rule, output.user_id, output.ts_ms, SENT)
        elif isinstance(output, Suppression):
            trigger = output.trigger
            found[trigger.trigger_id] = Decision(trigger.rule, trigger.user_id, trigger.ts_ms, output.reason.value)
    return found


@dataclass(frozen=True, slots=True)
class Change:
    trigger_id: str
    kind: str  # added, removed, retimed, decided (another outcome), or retimed+decided
    old: Decision | None
    new: Decision | None

    @property
    def at_ms(self) -> int:
        decision = self.new if self.old is None else self.old
        assert decision is not None
        return decision.ts_ms

    def to_dict(self) -> dict[str, Any]:
        decision = self.new if self.new is not None else self.old
        assert decision is not None
        return {
            "trigger_id": self.trigger_id,
            "change": self.kind,
            "rule": decision.rule,
            "user_id": decision.user_id,
            "old": None if self.old is None else self.old.to_dict(),
            "new": None if self.new is None else self.new.to_dict(),
        }


def diff(old: dict[str, Decision], new: dict[str, Decision]) -> list[Change]:
    """What changed, trigger by trigger, in time order (then by id)."""
    changes = []
    for trigger_id in old.keys() | new.keys():
        before, after = old.get(trigger_id), new.get(trigger_id)
        if before is None:
            changes.append(Change(trigger_id, "added", None, after))
        elif after is None:
            changes.append(Change(trigger_id, "removed", before, None))
        else:
            kinds = [kind for kind, changed in (("retimed", before.ts_ms != after.ts_ms), ("decided", before.outcome != after.outcome)) if changed]
            if kinds:
                changes.append(Change(trigger_id, "+".join(kinds), before, after))
    changes.sort(key=lambda change: (change.at_ms, change.trigger_id))
    return changes


@dataclass(slots=True)
class RuleSummary:
    """One rule under one book: what it sent and suppressed, what converted, its uplift."""

    triggers: int = 0
    suppressions: dict[str, int] = field(default_factory=dict)
    conversions: int = 0  # purchases attributed to its sent triggers
    uplift: Uplift | None = None

    @property
    def conversion_rate(self) -> float | None:
        return self.conversions / self.triggers if self.triggers else None


def summarize(outputs: Iterable[Output], outcomes: dict[str, RuleOutcomes]) -> dict[str, RuleSummary]:
    """Per rule (follow-ups apart, as their triggers name them), from one book's outputs and its
    partitions' uplift counts."""
    rules: dict[str, RuleSummary] = {}
    for output in outputs:
        if isinstance(output, Trigger):
            rules.setdefault(output.rule, RuleSummary()).triggers += 1
        elif isinstance(output, Suppression):
            summary = rules.setdefault(output.trigger.rule, RuleSummary())
            summary.suppressions[output.reason.value] = summary.suppressions.get(output.reason.value, 0) + 1
        elif isinstance(output, Conversion) and output.group is ConversionGroup.TREATED:
            rules.setdefault(output.rule, RuleSummary()).conversions += 1
    for rule, counts in outcomes.items():
        if "/" not in rule:  # a variant's own counts are in its rule's
            rules.setdefault(rule, RuleSummary()).uplift = estimate(rule, counts)
    return rules


def counts_by_kind(changes: list[Change]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for change in changes:
        counted[change.kind] = counted.get(change.kind, 0) + 1
    return dict(sorted(counted.items()))
