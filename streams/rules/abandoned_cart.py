"""abandoned_cart: a cart left untouched for a while, with no purchase, earns one reminder.

Every cart change re-arms the timer from that change; a purchase or an emptied cart disarms it.
The trigger id derives from the cart change that armed it, so a replay names it the same.
"""

from __future__ import annotations

from schemas.events import Click, ClickAction, Event, Purchase
from schemas.outputs import Trigger, trigger_id_for
from schemas.timestamps import format_rfc3339
from streams.cart import cart_value
from streams.config import RuleConfig
from streams.state import UserState
from streams.timers import Timer

RULE = "abandoned_cart"
_CART_CHANGES = (ClickAction.ADD_TO_CART, ClickAction.REMOVE_FROM_CART)


def on_event(state: UserState, event: Event, config: RuleConfig) -> Timer | None:
    """Call after the profile took the event; returns the timer to schedule, if one was armed.

    The deadline follows the latest cart change in event time: a late (out-of-order) change
    never pulls it earlier, and a late purchase does not cancel a reminder armed after it.
    """
    pending = state.timers.get(RULE)
    cart = state.profile.cart
    if isinstance(event, Purchase):
        if not cart or pending is None or event.ts_ms >= pending.due_ms - config.abandoned_cart_delay_ms:
            state.timers.pop(RULE, None)
        return None
    if not (isinstance(event, Click) and event.action in _CART_CHANGES):
        return None
    if not cart:
        state.timers.pop(RULE, None)
        return None
    due_ms = event.ts_ms + config.abandoned_cart_delay_ms
    if pending is not None and pending.due_ms >= due_ms:
        return None
    timer = Timer(key=RULE, rule=RULE, due_ms=due_ms, cause=event.event_id)
    state.timers[RULE] = timer
    return timer


def on_timer(state: UserState, timer: Timer, config: RuleConfig) -> Trigger | None:
    state.timers.pop(timer.key, None)
    cart = state.profile.cart
    if not cart:
        return None
    value = cart_value(cart)
    units = sum(line.quantity for line in cart.values())
    minutes = config.abandoned_cart_delay_ms // 60_000
    return Trigger(
        trigger_id=trigger_id_for(state.user_id, RULE, timer.cause),
        user_id=state.user_id,
        rule=RULE,
        ts_ms=timer.due_ms,
        channel=config.abandoned_cart_channel,
        payload={
            "items": [line.to_dict() for line in cart.values()],
            "item_count": units,
            "value": value,
            "last_cart_change": format_rfc3339(timer.due_ms - config.abandoned_cart_delay_ms),
        },
        reason=f"{units} item(s) worth {value:.2f} left in the cart for {minutes} min without a purchase",
    )
