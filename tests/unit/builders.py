"""Small builders for input events, so unit tests read as the story they tell.

Default event ids derive from the event's content, never from a counter, so building the same
input twice gives the same ids (which is what trigger-id determinism tests rely on).

>>> add("u1", T0_MS, "p1", 25.0, 2).event_id
'u1:add_to_cart:p1:1795597200000'
>>> purchase("u1", T0_MS + MINUTE_MS, [item("p1", 25.0, 2)]).total
50.0
"""

from __future__ import annotations

from typing import Iterable

from schemas.events import Click, ClickAction, Consent, Erasure, Event, LineItem, Purchase, Search
from schemas.outputs import Output
from streams.config import MINUTE_MS, ProfileConfig
from streams.rules.spec import (
    NO_GUARDRAILS,
    AbandonedCartParams,
    AbandonedInterestParams,
    Guardrails,
    RuleBook,
    RuleKind,
    RuleSpec,
    TimedPromotionParams,
    WinBackParams,
)
from streams.partition import PartitionEngine
from streams.population import Population
from streams.profile import Profile, new_profile, update_profile

T0_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z: an arbitrary, realistic epoch
DEFAULT_CATEGORY = "shoes"

__all__ = [
    "DEFAULT_CATEGORY",
    "MINUTE_MS",
    "T0_MS",
    "add",
    "cart_book",
    "click",
    "consent",
    "erasure",
    "feed",
    "interest_rule",
    "item",
    "profile_of",
    "promotion_rule",
    "purchase",
    "remove",
    "run",
    "rule_book",
    "search",
    "view",
    "win_back_rule",
]


def click(
    user: str,
    ts_ms: int,
    action: ClickAction | str,
    product: str,
    price: float,
    quantity: int = 1,
    event_id: str | None = None,
    *,
    category: str = DEFAULT_CATEGORY,
    utc_offset_min: int = 0,
    session_id: str | None = None,
) -> Click:
    action = ClickAction(action)
    return Click(
        event_id=event_id or f"{user}:{action.value}:{product}:{ts_ms}",
        user_id=user,
        ts_ms=ts_ms,
        utc_offset_min=utc_offset_min,
        action=action,
        product_id=product,
        category=category,
        price=price,
        quantity=quantity,
        session_id=session_id,
    )


def view(user: str, ts_ms: int, product: str = "p1", price: float = 10.0, **kwargs) -> Click:
    return click(user, ts_ms, ClickAction.VIEW, product, price, **kwargs)


def add(user: str, ts_ms: int, product: str = "p1", price: float = 10.0, quantity: int = 1, **kwargs) -> Click:
    return click(user, ts_ms, ClickAction.ADD_TO_CART, product, price, quantity, **kwargs)


def remove(user: str, ts_ms: int, product: str = "p1", price: float = 10.0, quantity: int = 1, **kwargs) -> Click:
    return click(user, ts_ms, ClickAction.REMOVE_FROM_CART, product, price, quantity, **kwargs)


def item(product: str, price: float, quantity: int = 1, *, category: str = DEFAULT_CATEGORY) -> LineItem:
    return LineItem(product_id=product, category=category, price=price, quantity=quantity)


def purchase(
    user: str,
    ts_ms: int,
    items: Iterable[LineItem] = (),
    total: float | None = None,
    *,
    order_id: str | None = None,
    event_id: str | None = None,
    utc_offset_min: int = 0,
    coupon: str | None = None,
) -> Purchase:
    """``total`` defaults to the items' value, rounded to cents."""
    items = tuple(items)
    if total is None:
        total = round(sum(line.price * line.quantity for line in items), 2)
    order_id = order_id or f"o-{user}-{ts_ms}"
    return Purchase(
        event_id=event_id or f"{user}:purchase:{order_id}:{ts_ms}",
        user_id=user,
        ts_ms=ts_ms,
        utc_offset_min=utc_offset_min,
        order_id=order_id,
        items=items,
        total=total,
        coupon=coupon,
    )


def search(
    user: str,
    ts_ms: int,
    query: str = "running shoes",
    *,
    category: str | None = None,
    event_id: str | None = None,
    utc_offset_min: int = 0,
    session_id: str | None = None,
) -> Search:
    return Search(
        event_id=event_id or f"{user}:search:{ts_ms}",
        user_id=user,
        ts_ms=ts_ms,
        utc_offset_min=utc_offset_min,
        query=query,
        category=category,
        session_id=session_id,
    )


def consent(
    user: str,
    ts_ms: int,
    channel: str = "email",
    granted: bool = True,
    *,
    event_id: str | None = None,
    utc_offset_min: int = 0,
) -> Consent:
    """``channel="all"`` speaks for every channel at once."""
    return Consent(
        event_id=event_id or f"{user}:consent:{channel}:{ts_ms}",
        user_id=user,
        ts_ms=ts_ms,
        utc_offset_min=utc_offset_min,
        channel=channel,
        granted=granted,
    )


def erasure(user: str, ts_ms: int, *, event_id: str | None = None, utc_offset_min: int = 0) -> Erasure:
    return Erasure(event_id=event_id or f"{user}:erasure:{ts_ms}", user_id=user, ts_ms=ts_ms, utc_offset_min=utc_offset_min)


def feed(population: Population, *events: Event, config: ProfileConfig = ProfileConfig()) -> Profile:
    """A fresh profile fed ``events`` in order, learning into ``population``."""
    profile = new_profile(events[0])
    for event in events:
        update_profile(profile, event, config=config, population=population)
    return profile


def profile_of(*events: Event) -> Profile:
    """The profile ``events`` make, in a population of its own."""
    return feed(Population(), *events)


def cart_book(delay_ms: int = 30 * MINUTE_MS, channel: str = "push", *, guardrails: Guardrails = NO_GUARDRAILS) -> RuleBook:
    """A rule book holding only abandoned_cart, without guardrails unless given: the rule alone."""
    rule = RuleSpec("abandoned_cart", RuleKind.ABANDONED_CART, channel, AbandonedCartParams(delay_ms=delay_ms))
    return RuleBook((rule,), guardrails)


def rule_book(*rules: RuleSpec, guardrails: Guardrails = NO_GUARDRAILS) -> RuleBook:
    """A rule book holding ``rules``, without guardrails unless given."""
    return RuleBook(rules, guardrails)


def interest_rule(channel: str = "push", **params) -> RuleSpec:
    """abandoned_interest with its default params unless given."""
    return RuleSpec("abandoned_interest", RuleKind.ABANDONED_INTEREST, channel, AbandonedInterestParams(**params))


def promotion_rule(
    name: str,
    start_ms: int,
    end_ms: int,
    *,
    channel: str = "push",
    priority: int = 0,
    holdout_fraction: float | None = None,
    **params,
) -> RuleSpec:
    """A timed_promotion campaign over ``[start_ms, end_ms)``; ``params`` are the other TimedPromotionParams."""
    return RuleSpec(
        name,
        RuleKind.TIMED_PROMOTION,
        channel,
        TimedPromotionParams(start_ms=start_ms, end_ms=end_ms, **params),
        priority=priority,
        holdout_fraction=holdout_fraction,
    )


def win_back_rule(channel: str = "email", **params) -> RuleSpec:
    return RuleSpec("win_back", RuleKind.WIN_BACK, channel, WinBackParams(**params))


def run(engine: PartitionEngine, events: Iterable[Event], advance_to_ms: int | None = None) -> list[Output]:
    """Everything the engine emits for ``events``, then for moving its clock to ``advance_to_ms``."""
    outputs: list[Output] = []
    for event in events:
        outputs.extend(engine.on_event(event))
    if advance_to_ms is not None:
        outputs.extend(engine.advance(advance_to_ms))
    return outputs
