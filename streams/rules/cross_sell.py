"""cross_sell: bought in category A, so offer B, the category the partition's buyers of A take next.

A purchase arms a timer ``delay`` after it for its main category A (the one it spent most on;
ties by name); a later purchase whose main category is A too re-arms it, one of another category
arms its own, up to ``MAX_PENDING`` waiting. When it fires, B is
the category with the best lift after A (streams/associations.py), with at least ``min_support``
sightings and ``min_lift`` even at the lift's cautious bound, that the user has not bought within the association window before A
nor since: a user who bought B meanwhile needed no nudge. The trigger names B and its best
sellers, and only a purchase in B converts it. At most one per (user, B) per ``once_per``.
"""

from __future__ import annotations

from typing import Any

from schemas.events import Event, Purchase
from schemas.timestamps import format_rfc3339
from streams.decisions import DROPPED, duration
from streams.rules.base import Candidate, Context, Effects
from streams.rules.logic import RuleLogic
from streams.rules.recommendation import recommend
from streams.rules.spec import CrossSellParams, RuleKind, RuleSpec
from streams.state import UserState
from streams.timers import Timer

REACTS_TO = frozenset({"purchase"})
SEPARATOR = "\x1f"  # between the category, the purchase and its time in a timer's cause: no id or name holds it
MAX_PENDING = 8  # cross-sells waiting per user and rule; a ninth category's purchase drops the one due first


def main_category(purchase: Purchase) -> str:
    """The category the purchase spent most on; the first by name on a tie."""
    spent: dict[str, float] = {}
    for item in purchase.items:
        spent[item.category] = spent.get(item.category, 0.0) + item.price * item.quantity
    return min(spent, key=lambda category: (-spent[category], category))


class CrossSell(RuleLogic):
    """Offer what the shop's buyers take next: see the module's docstring."""

    def __init__(self) -> None:
        super().__init__(RuleKind.CROSS_SELL, CrossSellParams, REACTS_TO)

    def on_event(self, rule: RuleSpec, state: UserState, event: Event, ctx: Context, effects: Effects) -> None:
        if not isinstance(event, Purchase) or not event.items:
            return
        params: CrossSellParams = rule.params  # type: ignore[assignment]
        category = main_category(event)
        if category not in ctx.population.associations.bought:
            return  # past the categories the partition learns about: it could never name a partner
        key = f"{rule.name}/{category}"
        timers = state.timers
        pending = timers.get(key)
        due_ms = event.ts_ms + params.delay_ms
        if pending is not None and pending.first_due_ms >= due_ms:  # a late purchase leaves a newer one's timer be
            return
        if pending is None:
            prefix = f"{rule.name}/"
            waiting = [name for name in timers if name.startswith(prefix)]
            if len(waiting) >= MAX_PENDING:  # the user's record stays bounded: the one due first goes
                del timers[min(waiting, key=lambda name: (timers[name].due_ms, name))]
        timer = Timer(key=key, rule=rule.name, due_ms=due_ms, cause=SEPARATOR.join((category, event.event_id, str(event.ts_ms))))
        timers[key] = timer
        effects.schedule.append(timer)

    def on_timer(self, rule: RuleSpec, state: UserState, timer: Timer, ctx: Context) -> Candidate | None:
        params: CrossSellParams = rule.params  # type: ignore[assignment]
        category, _, bought_at = timer.cause.split(SEPARATOR)
        bought_ms = int(bought_at)
        partner = recommend(state, ctx, category, bought_ms=bought_ms, min_support=params.min_support, min_lift=params.min_lift)
        if partner is None:
            state.note(ctx.now_ms, rule.name, DROPPED, f"after {category}: no trusted partner category they have not bought", category)
            return None
        once_key = f"{rule.name}/{partner.category}"
        if state.fired_within(once_key, now_ms=ctx.now_ms, window_ms=params.once_per_ms):
            state.note(ctx.now_ms, rule.name, DROPPED, f"{partner.category} was offered less than {duration(params.once_per_ms)} ago (once_per)", category)
            return None
        return Candidate(
            rule=rule,
            key=timer.key,
            cause=timer.cause,
            ts_ms=ctx.now_ms,
            payload={
                "category": partner.category,
                "because_of": category,
                "products": ctx.population.associations.popular(partner.category, params.top_products),
                "lift": partner.lift,
                "bought_at": format_rfc3339(bought_ms),
            },
            reason=f"bought {category}; buyers of {category} take {partner.category} {partner.lift:.1f}x as often ({partner.support} seen), and this one has not",
            once_key=once_key,
            categories=(partner.category,),
        )

    def delay_ms(self, params: Any) -> int:
        return int(params.delay_ms)

    def example(self) -> RuleSpec:
        return RuleSpec("cross_sell", RuleKind.CROSS_SELL, "email", CrossSellParams(min_support=4, min_lift=0.0))

    def summary(self, payload: dict[str, Any]) -> str:
        return f"{payload['category']} after {payload['because_of']}"
