"""follow_up: a rule's second step, when its first message was ignored.

A rule with a ``follow_up`` arms one timer per trigger it sends. An open, a click, a dismissal, an
unsubscribe or a complaint about that message, or any purchase, cancels it; a delivery or a
bounce does not (a bounce is what a second channel is for). When the timer fires, the follow-up
goes out as a trigger of its own, ``<rule>-follow-up``, naming the first and carrying its
variant. It never repeats the first message as it was: the rules file requires a follow-up to
name another offer or channel, and without an offer of its own it avoids the first message's
channel. It passes every guardrail as any trigger does.
"""

from __future__ import annotations

from dataclasses import replace

from streams.rules.base import Candidate, Context
from streams.rules.spec import FollowUpParams, RuleSpec
from streams.state import UserState
from streams.timers import Timer

PREFIX = "follow_up/"  # the timer key's prefix, before the first trigger's id


def timer_for(rule: RuleSpec, trigger_id: str, ts_ms: int) -> Timer:
    """The timer a sent trigger of ``rule`` (which has a follow-up) arms."""
    follow_up = rule.follow_up
    assert follow_up is not None and isinstance(follow_up.params, FollowUpParams)
    return Timer(key=PREFIX + trigger_id, rule=follow_up.name, due_ms=ts_ms + follow_up.params.after_ms, cause=trigger_id)


def cancel_all(state: UserState) -> None:
    """A purchase: no follow-up is wanted any more."""
    timers = state.timers
    for key in [key for key in timers if key.startswith(PREFIX)]:
        del timers[key]


def on_timer(rule: RuleSpec, state: UserState, timer: Timer, ctx: Context) -> Candidate | None:
    first = timer.cause
    exposure = None
    for remembered in state.exposures:
        if remembered.trigger_id == first:
            exposure = remembered
    if exposure is None or exposure.responded is not None:
        return None  # converted (its exposure is used up), answered since, or forgotten
    if rule.offer is None and rule.choices == (exposure.channel,):
        return None  # the same message on the same channel: never simply resent
    params: FollowUpParams = rule.params  # type: ignore[assignment]
    spec = rule if exposure.variant is None else replace(rule, variant=exposure.variant)
    hours = params.after_ms / 3_600_000
    return Candidate(
        rule=spec,
        key=timer.key,
        cause=f"{first}/follow-up",
        ts_ms=ctx.now_ms,
        payload={
            "follow_up_of": first,
            "first_channel": exposure.channel,
            "categories": list(exposure.categories),
            "products": list(exposure.products),
        },
        reason=f"no open or click of the {params.parent} message on {exposure.channel} within {hours:g} h",
        once_key=timer.key,
        categories=exposure.categories,
        products=exposure.products,
        avoid_channel="" if rule.offer is not None else exposure.channel,
    )
