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
from typing import Any

from schemas.outputs import Trigger
from streams.decisions import CANCELLED
from streams.rules.attribution import exposure_of
from streams.rules.base import Candidate, Context
from streams.rules.logic import RuleLogic
from streams.rules.spec import AbandonedCartParams, FollowUpParams, RuleKind, RuleSpec
from streams.state import UserState
from streams.timers import Timer

PREFIX = "follow-up:"  # the timer key's prefix, before the first trigger's id; no rule name has a ':'
MAX_PENDING = 16  # follow-ups a user may have waiting; past it, the one due first goes: the record stays bounded
_SEPARATOR = "\x1f"


def timer_for(rule: RuleSpec, trigger: Trigger) -> Timer:
    """The timer a sent trigger of ``rule`` (which has a follow-up) arms. Its cause names the
    first trigger, its channel and its variant: what the follow-up needs even when a busy user's
    exposures (bounded) have forgotten the first message by the time it fires."""
    follow_up = rule.follow_up
    assert follow_up is not None and isinstance(follow_up.params, FollowUpParams)
    cause = _SEPARATOR.join((trigger.trigger_id, trigger.channel, trigger.variant or ""))
    return Timer(key=PREFIX + trigger.trigger_id, rule=follow_up.name, due_ms=trigger.ts_ms + follow_up.params.after_ms, cause=cause)


def arm(state: UserState, timer: Timer) -> None:
    """Keep ``timer``, making room by dropping the follow-up due first when MAX_PENDING wait."""
    timers = state.timers
    waiting = [key for key in timers if key.startswith(PREFIX)]
    if len(waiting) >= MAX_PENDING:
        del timers[min(waiting, key=lambda key: (timers[key].due_ms, key))]
    timers[timer.key] = timer


def cancel_all(state: UserState, ts_ms: int) -> None:
    """A purchase: no follow-up is wanted any more."""
    timers = state.timers
    for key in [key for key in timers if key.startswith(PREFIX)]:
        state.note(ts_ms, timers.pop(key).rule, CANCELLED, "bought before it was due")


class FollowUp(RuleLogic):
    """A rule's second step: see the module's docstring."""

    def __init__(self) -> None:
        super().__init__(RuleKind.FOLLOW_UP, FollowUpParams, frozenset())

    def on_timer(self, rule: RuleSpec, state: UserState, timer: Timer, ctx: Context) -> Candidate | None:
        """The timer is still pending, so nothing ended the follow-up (see the module's docstring)."""
        first, channel, variant = timer.cause.split(_SEPARATOR)
        if rule.offer is None and rule.choices == (channel,):
            return None  # the same message on the same channel: never simply resent
        first_exposure = exposure_of(state, first)  # what the first message was about, if still remembered
        categories = () if first_exposure is None else first_exposure.categories
        products = () if first_exposure is None else first_exposure.products
        params: FollowUpParams = rule.params  # type: ignore[assignment]
        spec = replace(rule, variant=variant) if variant else rule
        hours = params.after_ms / 3_600_000
        return Candidate(
            rule=spec,
            key=timer.key,
            cause=timer.cause,  # held for quiet hours, it re-arms this timer as it is
            ts_ms=ctx.now_ms,
            payload={"follow_up_of": first, "first_channel": channel, "categories": list(categories), "products": list(products)},
            reason=f"no open or click of the {params.parent} message on {channel} within {hours:g} h",
            once_key=rule.name,  # one mark for the follow-up rule, not one per message: the record stays bounded
            categories=categories,
            products=products,
            avoid_channel="" if rule.offer is not None else channel,
        )

    def delay_ms(self, params: Any) -> int:
        return int(params.after_ms)

    def example(self) -> RuleSpec:
        """The follow-up of a cart reminder: the rule its spec comes from, as a rules file writes it."""
        cart = RuleSpec("cart", RuleKind.ABANDONED_CART, "push", AbandonedCartParams())
        follow = RuleSpec("cart-follow-up", RuleKind.FOLLOW_UP, "email", FollowUpParams(after_ms=4 * 3_600_000, parent="cart"), holdout_fraction=0.0)
        return replace(cart, follow_up=follow)

    def summary(self, payload: dict[str, Any]) -> str:
        return f"follows up an ignored {payload.get('first_channel', '')} message"
