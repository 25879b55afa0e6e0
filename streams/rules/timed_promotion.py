"""timed_promotion: a campaign window, a segment filter and an offer, once per user.

An eligible user gets the offer on their first event inside the window, the moment they are
active; with ``send_at: best_hour`` it is scheduled instead for the user's best send hour (local
time) inside the window. Eligibility is checked again when a scheduled or held offer goes out.
"""

from __future__ import annotations

from typing import Any

from schemas.events import Consent, Event
from schemas.timestamps import format_rfc3339
from streams.config import DAY_MS, HOUR_MS
from streams.profile import Profile
from streams.rules.base import Candidate, Context, Effects
from streams.rules.logic import RuleLogic
from streams.rules.spec import RuleKind, RuleSpec, SegmentFilter, SendAt, TimedPromotionParams
from streams.state import UserState
from streams.timers import Timer


def eligible(profile: Profile, segment: SegmentFilter, *, consent_default: bool) -> bool:
    if not profile.has_activity:
        return False
    if segment.lifecycle and profile.stage.value not in segment.lifecycle:
        return False
    if segment.rfm and profile.rfm_segment not in segment.rfm:
        return False
    if segment.top_category:
        top = profile.categories.top(1)
        if not top or top[0] not in segment.top_category:
            return False
    if segment.price_sensitivity and profile.price_sensitivity not in segment.price_sensitivity:
        return False
    return segment.consent is None or profile.consent_for(segment.consent, default=consent_default)


def next_local_hour_ms(now_ms: int, hour: int, utc_offset_min: int) -> int:
    """The first moment at or after ``now_ms`` when the local clock shows ``hour``:00.

    >>> next_local_hour_ms(10 * HOUR_MS, 9, 0) == 33 * HOUR_MS, next_local_hour_ms(10 * HOUR_MS, 11, 60)
    (True, 36000000)
    """
    offset_ms = utc_offset_min * 60_000
    local_ms = now_ms + offset_ms
    candidate = local_ms - local_ms % DAY_MS + hour * HOUR_MS
    if candidate < local_ms:
        candidate += DAY_MS
    return candidate - offset_ms


REACTS_TO = frozenset({"view", "add_to_cart", "remove_from_cart", "search", "purchase"})
"""A consent message is not activity: the offer waits for the user's next event."""


def _candidate(rule: RuleSpec, params: TimedPromotionParams, ts_ms: int) -> Candidate:
    return Candidate(
        rule=rule,
        key=rule.name,
        cause=rule.name,  # once per campaign: the campaign itself is the cause
        ts_ms=ts_ms,
        payload={
            "campaign": rule.name,
            "offer": dict(params.offer),
            "window": {"start": format_rfc3339(params.start_ms), "end": format_rfc3339(params.end_ms)},
        },
        reason=f"eligible for campaign {rule.name} while it runs",
        once_key=rule.name,
        deadline_ms=params.end_ms - 1,
    )


class TimedPromotion(RuleLogic):
    """A campaign window: see the module's docstring."""

    def __init__(self) -> None:
        super().__init__(RuleKind.TIMED_PROMOTION, TimedPromotionParams, REACTS_TO)

    def on_event(self, rule: RuleSpec, state: UserState, event: Event, ctx: Context, effects: Effects) -> None:
        params: TimedPromotionParams = rule.params  # type: ignore[assignment]
        ts_ms = event.ts_ms
        if isinstance(event, Consent) or not params.start_ms <= ts_ms < params.end_ms:
            return
        if rule.name in state.fired or rule.name in state.timers:
            return
        profile = state.profile
        if not eligible(profile, params.segment, consent_default=ctx.profile_config.consent_default):
            return
        due_ms = ts_ms
        if params.send_at is SendAt.BEST_HOUR:
            hour = profile.best_send_hour()
            if hour is not None:
                best_ms = next_local_hour_ms(ts_ms, hour, profile.utc_offset_min)
                if best_ms < params.end_ms:
                    due_ms = best_ms
        if due_ms > ts_ms:
            timer = Timer(key=rule.name, rule=rule.name, due_ms=due_ms, cause=rule.name)
            state.timers[rule.name] = timer
            effects.schedule.append(timer)
        else:
            effects.candidates.append(_candidate(rule, params, ts_ms))

    def on_timer(self, rule: RuleSpec, state: UserState, timer: Timer, ctx: Context) -> Candidate | None:
        params: TimedPromotionParams = rule.params  # type: ignore[assignment]
        if rule.name in state.fired:
            return None
        if not eligible(state.profile, params.segment, consent_default=ctx.profile_config.consent_default):
            return None
        return _candidate(rule, params, ctx.now_ms)

    def delay_ms(self, params: Any) -> int:
        return DAY_MS if params.send_at is SendAt.BEST_HOUR else 0  # the best hour comes round within a day

    def example(self) -> RuleSpec:
        # A campaign from 2026-11-01 to 2027-03-01, to anyone: the conformance suite's shop runs inside it.
        return RuleSpec("sale", RuleKind.TIMED_PROMOTION, "email", TimedPromotionParams(start_ms=1_793_491_200_000, end_ms=1_803_859_200_000))

    def summary(self, payload: dict[str, Any]) -> str:
        return f"{payload.get('campaign', '')} offer {payload.get('offer')}"
