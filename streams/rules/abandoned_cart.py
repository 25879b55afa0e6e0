"""abandoned_cart: a cart left untouched for a while, with no purchase, earns one reminder.

Every cart change re-arms the timer from that change; a purchase or an emptied cart disarms it.
The trigger id derives from the cart change that armed it, so a replay names it the same. One
cart (from its first item until it is bought or emptied) gets at most one reminder per
``once_per``, however often it changes.
"""

from __future__ import annotations

from typing import Any

from schemas.events import Click, ClickAction, Event, Purchase
from schemas.timestamps import format_rfc3339
from streams.cart import cart_value
from streams.decisions import CANCELLED, DROPPED, duration as _duration
from streams.rules.base import Candidate, Context, Effects
from streams.rules.logic import RuleLogic
from streams.rules.spec import AbandonedCartParams, RuleKind, RuleSpec
from streams.state import UserState
from streams.timers import Timer

_CART_CHANGES = (ClickAction.ADD_TO_CART, ClickAction.REMOVE_FROM_CART)
REACTS_TO = frozenset({"add_to_cart", "remove_from_cart", "purchase"})
"""Only these events change a cart; the core calls ``on_event`` for nothing else."""


class AbandonedCart(RuleLogic):
    """A cart left untouched: see the module's docstring."""

    def __init__(self) -> None:
        super().__init__(RuleKind.ABANDONED_CART, AbandonedCartParams, REACTS_TO)

    def on_event(self, rule: RuleSpec, state: UserState, event: Event, ctx: Context, effects: Effects) -> None:
        """Call after the profile took the event.

        The deadline follows the latest cart change in event time: a late (out-of-order) change
        never pulls it earlier, and a late purchase does not cancel a reminder armed after it.
        """
        params: AbandonedCartParams = rule.params  # type: ignore[assignment]
        key = rule.name
        pending = state.timers.get(key)
        cart = state.profile.cart
        if not cart:
            state.fired.pop(key, None)  # the next cart is a new cart
        if isinstance(event, Purchase):
            if pending is not None and (not cart or event.ts_ms >= pending.first_due_ms - params.delay_ms):
                del state.timers[key]
                state.note(event.ts_ms, rule.name, CANCELLED, "bought before the reminder was due")
            return
        if not (isinstance(event, Click) and event.action in _CART_CHANGES):
            return
        if not cart:
            if state.timers.pop(key, None) is not None:
                state.note(event.ts_ms, rule.name, CANCELLED, "the cart was emptied")
            return
        due_ms = event.ts_ms + params.delay_ms
        if pending is not None and pending.first_due_ms >= due_ms:  # a held timer keeps its real deadline
            return
        timer = Timer(key=key, rule=rule.name, due_ms=due_ms, cause=event.event_id)
        state.timers[key] = timer
        effects.schedule.append(timer)

    def on_timer(self, rule: RuleSpec, state: UserState, timer: Timer, ctx: Context) -> Candidate | None:
        params: AbandonedCartParams = rule.params  # type: ignore[assignment]
        cart = state.profile.cart
        if not cart:
            return None
        if state.fired_within(rule.name, now_ms=ctx.now_ms, window_ms=params.once_per_ms):
            state.note(ctx.now_ms, rule.name, DROPPED, f"this cart had a reminder less than {_duration(params.once_per_ms)} ago (once_per)")
            return None
        value = cart_value(cart)
        units = sum(line.quantity for line in cart.values())
        minutes = params.delay_ms // 60_000
        return Candidate(
            rule=rule,
            key=timer.key,
            cause=timer.cause,
            ts_ms=ctx.now_ms,
            payload={
                "items": [line.to_dict() for line in cart.values()],
                "item_count": units,
                "value": value,
                "last_cart_change": format_rfc3339(timer.first_due_ms - params.delay_ms),
            },
            reason=f"{units} item(s) worth {value:.2f} left in the cart for {minutes} min without a purchase",
            once_key=rule.name,
            products=tuple(cart),
        )

    def delay_ms(self, params: Any) -> int:
        return int(params.delay_ms)

    def example(self) -> RuleSpec:
        return RuleSpec("cart", RuleKind.ABANDONED_CART, "push", AbandonedCartParams())

    def summary(self, payload: dict[str, Any]) -> str:
        return f"{payload['item_count']} item(s), {payload['value']:.2f}"
