"""win_back: a user silent for longer than is usual for them gets a message with their tastes,
then a stronger offer if they stay silent.

Longer than usual is the user's own: ``multiple`` (3) times their usual gap between visits (the
median of the latest 8, streams/lifecycle.py), kept within ``at_least`` (7 days) and ``at_most``
(60 days); while fewer than ``min_gaps`` (3) gaps are known, the fixed 30 days, within the same
bounds. That much silence puts them at_risk, ``churn_multiple`` (3) times it churned. The book's
first enabled win_back rule sets these thresholds, each user's by their A/B variant of it: the
core applies them on the partition's daily sweep (``Core.restage``), and the profile's
``stage_by`` says why the user is where they are.

Stages move to at_risk and churned only on that sweep, so the sweep is what offers this rule its
candidates: one message at at_risk, one with ``churned_offer`` at churned, each once per spell of
silence. Coming back (any activity but a consent message) ends the spell. A user who goes
straight to churned (the worker was down for weeks) gets the churned message alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.events import Event
from schemas.timestamps import format_rfc3339
from streams.config import DAY_MS
from streams.lifecycle import AT_RISK_AFTER_MS, SILENT, Stage, usual_gap_ms
from streams.profile import EVENT_KINDS, Profile
from streams.rules import variants
from streams.rules.base import Candidate, Context, Effects
from streams.rules.logic import RuleLogic
from streams.rules.spec import RuleBook, RuleKind, RuleSpec, WinBackParams
from streams.state import UserState
from streams.timers import Timer

REACTS_TO = EVENT_KINDS - {"consent"}
"""Any activity: a consent message is not the user coming back."""
_CHURNED_CAUSE = "churned@"  # a held timer's cause says which stage's message it holds


@dataclass(frozen=True, slots=True)
class Silence:
    """How long a user may be silent, by a win_back rule, before they are at risk and churned."""

    at_risk_ms: int
    churned_ms: int
    usual_gap_ms: int | None  # their usual gap between visits; None: too few known
    wanted_ms: int  # the multiple of the usual gap (or the fixed 30 days) before the bounds


def silence_for(params: WinBackParams, visit_starts_ms: list[int]) -> Silence:
    """The thresholds ``params`` give a user whose visits started at ``visit_starts_ms``.

    >>> day = 86_400_000
    >>> weekly = [week * 7 * day for week in range(4)]
    >>> [silence_for(WinBackParams(), starts).at_risk_ms // day for starts in (weekly, weekly[:3], [0, day, 2 * day, 3 * day])]
    [21, 30, 7]
    >>> silence_for(WinBackParams(), weekly).churned_ms // day
    63
    """
    usual = usual_gap_ms(visit_starts_ms) if len(visit_starts_ms) > params.min_gaps else None
    wanted = AT_RISK_AFTER_MS if usual is None else round(params.multiple * usual)
    at_risk = min(max(wanted, params.at_least_ms), params.at_most_ms)
    return Silence(at_risk, round(params.churn_multiple * at_risk), usual, wanted)


def thresholds_rule(book: RuleBook) -> RuleSpec | None:
    """The rule whose params set every user's silence thresholds: the first enabled win_back."""
    for rule in book.rules:
        if rule.enabled and rule.kind is RuleKind.WIN_BACK:
            return rule
    return None


def least_silence_ms(rule: RuleSpec) -> int:
    """The least silence the rule's thresholds (any of its variants') can call at risk."""
    specs = (rule, *(variant.rule for variant in rule.variants))
    return min(spec.params.at_least_ms for spec in specs)  # type: ignore[union-attr]


def stage_by(rule: RuleSpec, silence: Silence, stage: Stage) -> str:
    """Why ``silence`` puts the user in ``stage`` (at_risk or churned), for the profile.

    Says the threshold, not the silence at the sweep, so it does not change from one day to the next.

    >>> from streams.rules.spec import RuleKind, RuleSpec, WinBackParams
    >>> rule = RuleSpec("win_back", RuleKind.WIN_BACK, "email", WinBackParams())
    >>> stage_by(rule, Silence(21 * DAY_MS, 63 * DAY_MS, 7 * DAY_MS, 21 * DAY_MS), Stage.AT_RISK)
    'win_back: silent 21 d or more, 3x their usual 7 d between visits'
    """
    params: WinBackParams = rule.params  # type: ignore[assignment]
    name = rule.name if rule.variant is None else f"{rule.name} ({rule.variant})"
    basis = _basis(params, silence, "d")
    if stage is Stage.CHURNED:
        at_risk = _days(silence.at_risk_ms, "d")
        return f"{name}: silent {_days(silence.churned_ms, 'd')} or more, {params.churn_multiple:g}x the {at_risk} that put them at risk ({basis})"
    return f"{name}: silent {_days(silence.at_risk_ms, 'd')} or more, {basis}"


def _basis(params: WinBackParams, silence: Silence, unit: str) -> str:
    """Where the at-risk silence comes from, in words."""
    gap = silence.usual_gap_ms
    if gap is None:
        known = f"fewer than {params.min_gaps} gaps between visits known"
        return known if silence.at_risk_ms == silence.wanted_ms else f"the bound nearest the fixed {_days(silence.wanted_ms, unit)}, {known}"
    asked = f"{params.multiple:g}x their usual {_days(gap, unit)} between visits"
    if silence.at_risk_ms > silence.wanted_ms:
        return f"the least this rule waits ({asked} is less)"
    if silence.at_risk_ms < silence.wanted_ms:
        return f"the most this rule waits ({asked} is more)"
    return asked


def _days(duration_ms: int, unit: str) -> str:
    days = round(duration_ms / DAY_MS, 1)
    if unit == "days" and days == 1:
        unit = "day"
    return f"{days:g} {unit}"


def _reason(params: WinBackParams, silence: Silence, churned: bool) -> str:
    if churned:
        return f"no activity for {_days(silence.churned_ms, 'days')}, {params.churn_multiple:g}x the {_days(silence.at_risk_ms, 'days')} that put them at risk"
    if silence.usual_gap_ms is None:
        return f"no activity for {_days(silence.at_risk_ms, 'days')} after being active"
    return f"no activity for {_days(silence.at_risk_ms, 'days')}, {_basis(params, silence, 'days')}"


def _silence(state: UserState, ctx: Context) -> tuple[WinBackParams, Silence]:
    """The thresholds the core staged the user with (see ``thresholds_rule``), for the reason."""
    rule = thresholds_rule(ctx.book)
    assert rule is not None  # this rule is a win_back rule of the book
    if rule.variants:
        rule = variants.for_user(rule, state.user_id, salt=ctx.book.guardrails.variant_salt)
    params: WinBackParams = rule.params  # type: ignore[assignment]
    return params, silence_for(params, state.profile.visit_starts_ms)


class WinBack(RuleLogic):
    """Silence turned at risk, then churned: see the module's docstring."""

    def __init__(self) -> None:
        super().__init__(RuleKind.WIN_BACK, WinBackParams, REACTS_TO)
        self._once_keys: dict[str, tuple[str, str]] = {}  # by rule name, built once: on_event runs for every activity

    def once_keys(self, name: str) -> tuple[str, str]:
        """The rule's once-per-spell keys: the at-risk message's and the churned one's."""
        keys = self._once_keys.get(name)
        if keys is None:
            keys = self._once_keys[name] = (f"{name}/at_risk", f"{name}/churned")
        return keys

    def on_event(self, rule: RuleSpec, state: UserState, event: Event, ctx: Context, effects: Effects) -> None:
        """After the profile took an activity event: a returning user ends the spell."""
        if state.profile.stage not in SILENT:
            at_risk_key, churned_key = self.once_keys(rule.name)
            fired = state.fired
            fired.pop(at_risk_key, None)
            fired.pop(churned_key, None)
            state.timers.pop(rule.name, None)  # a win-back held for quiet hours is moot now

    def on_timer(self, rule: RuleSpec, state: UserState, timer: Timer, ctx: Context) -> Candidate | None:
        """A message held for quiet hours: still due if the user is still in its stage."""
        churned = timer.cause.startswith(_CHURNED_CAUSE)
        if state.profile.stage is not (Stage.CHURNED if churned else Stage.AT_RISK):
            return None
        return self._candidate(rule, state, churned, timer.cause, ctx)

    def on_stage_change(self, rule: RuleSpec, state: UserState, before: Stage, ctx: Context) -> Candidate | None:
        profile = state.profile
        stage = profile.stage
        if stage is Stage.CHURNED:
            return self._candidate(rule, state, True, f"{_CHURNED_CAUSE}{profile.last_seen_ms}", ctx)
        if stage is not Stage.AT_RISK or before in SILENT:  # back from churned to at_risk: thresholds grew, nothing new to say
            return None
        return self._candidate(rule, state, False, f"at_risk@{profile.last_seen_ms}", ctx)

    def _candidate(self, rule: RuleSpec, state: UserState, churned: bool, cause: str, ctx: Context) -> Candidate | None:
        at_risk_key, churned_key = self.once_keys(rule.name)
        once_key = churned_key if churned else at_risk_key
        if once_key in state.fired:
            return None
        params: WinBackParams = rule.params  # type: ignore[assignment]
        profile: Profile = state.profile
        top = profile.categories.top(params.top_categories)
        thresholds, silence = _silence(state, ctx)
        payload: dict[str, Any] = {
            "top_categories": top,
            "last_seen": format_rfc3339(profile.last_seen_ms),
            "stage": Stage.CHURNED.value if churned else Stage.AT_RISK.value,
        }
        return Candidate(
            rule=rule,
            key=rule.name,
            cause=cause,
            ts_ms=ctx.now_ms,
            payload=payload,
            reason=_reason(thresholds, silence, churned),
            once_key=once_key,
            offer=params.churned_offer if churned and params.churned_offer else None,
        )

    def example(self) -> RuleSpec:
        return RuleSpec("win_back", RuleKind.WIN_BACK, "email", WinBackParams(churned_offer={"discount_pct": 15}))

    def summary(self, payload: dict[str, Any]) -> str:
        misses = f"misses {', '.join(payload['top_categories']) or 'the shop'}"
        return f"churned, {misses}" if payload.get("stage") == Stage.CHURNED.value else misses
