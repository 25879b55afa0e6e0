"""A user's live profile: what they did, when, what is in their cart and what they spent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.events import Click, ClickAction, Event, Purchase, Search
from streams.cart import Cart, CartLine, add_to_cart, cart_value, remove_from_cart, remove_purchased


@dataclass(slots=True)
class Profile:
    user_id: str
    first_seen_ms: int
    last_seen_ms: int
    counts: dict[str, int] = field(default_factory=dict)  # events by kind: view, add_to_cart, search...
    cart: Cart = field(default_factory=dict)
    total_spend: float = 0.0

    @property
    def order_count(self) -> int:
        return self.counts.get("purchase", 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "first_seen_ms": self.first_seen_ms,
            "last_seen_ms": self.last_seen_ms,
            "counts": dict(self.counts),
            "cart": [line.to_dict() for line in self.cart.values()],
            "cart_value": cart_value(self.cart),
            "total_spend": self.total_spend,
            "order_count": self.order_count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        return cls(
            user_id=data["user_id"],
            first_seen_ms=data["first_seen_ms"],
            last_seen_ms=data["last_seen_ms"],
            counts=dict(data["counts"]),
            cart={line["product_id"]: CartLine(**line) for line in data["cart"]},
            total_spend=data["total_spend"],
        )


def new_profile(event: Event) -> Profile:
    return Profile(user_id=event.user_id, first_seen_ms=event.ts_ms, last_seen_ms=event.ts_ms)


def event_kind(event: Event) -> str:
    """The counter an event increments: a click's action, else the event type."""
    if isinstance(event, Click):
        return event.action.value
    return "search" if isinstance(event, Search) else "purchase"


def update_profile(profile: Profile, event: Event) -> None:
    """Apply one event in place. Late events count like any other; they never move last_seen back.

    >>> from schemas.events import Click, ClickAction
    >>> add = Click("e1", "u1", 1_000, 0, ClickAction.ADD_TO_CART, "p1", "shoes", 40.0, 2)
    >>> profile = new_profile(add); update_profile(profile, add)
    >>> profile.counts, profile.to_dict()["cart_value"]
    ({'add_to_cart': 1}, 80.0)
    """
    kind = event_kind(event)
    profile.counts[kind] = profile.counts.get(kind, 0) + 1
    if event.ts_ms < profile.first_seen_ms:
        profile.first_seen_ms = event.ts_ms
    if event.ts_ms > profile.last_seen_ms:
        profile.last_seen_ms = event.ts_ms
    if isinstance(event, Click):
        if event.action is ClickAction.ADD_TO_CART:
            add_to_cart(
                profile.cart,
                product_id=event.product_id,
                category=event.category,
                price=event.price,
                quantity=event.quantity,
            )
        elif event.action is ClickAction.REMOVE_FROM_CART:
            remove_from_cart(profile.cart, product_id=event.product_id, quantity=event.quantity)
    elif isinstance(event, Purchase):
        remove_purchased(profile.cart, event.items)
        profile.total_spend = round(profile.total_spend + event.total, 2)
