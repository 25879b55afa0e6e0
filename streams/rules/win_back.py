"""win_back: a user who moves to at_risk (30 days of silence) gets one message with their tastes.

Stages move to at_risk only on the partition's daily sweep, so the sweep is what offers this
rule its candidates. One message per at-risk spell: coming back ends the spell.
"""

from __future__ import annotations

from typing import Any

from schemas.events import Event
from schemas.timestamps import format_rfc3339
from streams.lifecycle import Stage
from streams.profile import EVENT_KINDS
from streams.rules.base import Candidate, Context, Effects
from streams.rules.logic import RuleLogic
from streams.rules.spec import RuleKind, RuleSpec, WinBackParams
from streams.state import UserState
from streams.timers import Timer

_SILENT = (Stage.AT_RISK, Stage.CHURNED)
REACTS_TO = EVENT_KINDS - {"consent"}
"""Any activity: a consent message is not the user coming back."""


def _candidate(rule: RuleSpec, state: UserState, cause: str, ctx: Context) -> Candidate:
    params: WinBackParams = rule.params  # type: ignore[assignment]
    profile = state.profile
    top = profile.categories.top(params.top_categories)
    return Candidate(
        rule=rule,
        key=rule.name,
        cause=cause,
        ts_ms=ctx.now_ms,
        payload={"top_categories": top, "last_seen": format_rfc3339(profile.last_seen_ms)},
        reason="no activity for 30 days after being active",
        once_key=rule.name,
    )


class WinBack(RuleLogic):
    """Silence turned at risk: see the module's docstring."""

    def __init__(self) -> None:
        super().__init__(RuleKind.WIN_BACK, WinBackParams, REACTS_TO)

    def on_event(self, rule: RuleSpec, state: UserState, event: Event, ctx: Context, effects: Effects) -> None:
        """After the profile took an activity event: a returning user starts a new spell."""
        if state.profile.stage not in _SILENT:
            state.fired.pop(rule.name, None)
            state.timers.pop(rule.name, None)  # a win-back held for quiet hours is moot now

    def on_timer(self, rule: RuleSpec, state: UserState, timer: Timer, ctx: Context) -> Candidate | None:
        if state.profile.stage is not Stage.AT_RISK or rule.name in state.fired:
            return None
        return _candidate(rule, state, timer.cause, ctx)

    def on_stage_change(self, rule: RuleSpec, state: UserState, before: Stage, ctx: Context) -> Candidate | None:
        if state.profile.stage is not Stage.AT_RISK or before in _SILENT or rule.name in state.fired:
            return None
        return _candidate(rule, state, f"at_risk@{state.profile.last_seen_ms}", ctx)

    def example(self) -> RuleSpec:
        return RuleSpec("win_back", RuleKind.WIN_BACK, "email", WinBackParams())

    def summary(self, payload: dict[str, Any]) -> str:
        return f"misses {', '.join(payload['top_categories']) or 'the shop'}"
