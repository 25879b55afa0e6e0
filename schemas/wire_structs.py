"""The fast path's structs: msgspec parses and validates a well-formed message into one of
these in one pass of C. Their constraints repeat the slow path's (``schemas/decoding.py``), so
the fast path never accepts what the slow path rejects.

Source only, never compiled: mypyc cannot build classes on msgspec's. ``schemas/wire.py`` turns
a struct into the core's event.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.events import CLICK_ACTIONS, ENGAGEMENT_TYPES, InputTopic
from schemas.limits import (
    MAX_CHANNEL_LENGTH,
    MAX_ID_LENGTH,
    MAX_ORDER_ITEMS,
    MAX_ORDER_TOTAL,
    MAX_PRICE,
    MAX_QUANTITY,
    MAX_TEXT_LENGTH,
)

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT_LENGTH)]
Channel = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CHANNEL_LENGTH)]
Price = Annotated[float, msgspec.Meta(ge=0, le=MAX_PRICE)]  # msgspec takes JSON integers as floats, as the slow path does
Total = Annotated[float, msgspec.Meta(ge=0, le=MAX_ORDER_TOTAL)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]  # a JSON true is not an int to msgspec either
Action = Literal["view", "add_to_cart", "remove_from_cart"]

EngagementKind = Literal["delivered", "opened", "clicked", "dismissed", "bounced", "unsubscribed", "complained"]

assert set(CLICK_ACTIONS) == set(Action.__args__)  # type: ignore[attr-defined]
assert set(ENGAGEMENT_TYPES) == set(EngagementKind.__args__)  # type: ignore[attr-defined]


class WireClick(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str
    action: Action
    product_id: Id
    category: Id
    price: Price
    quantity: Quantity = 1
    session_id: Id | None = None


class WireSearch(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str
    query: Text
    category: Id | None = None
    session_id: Id | None = None


class WireLineItem(msgspec.Struct):
    product_id: Id
    category: Id
    price: Price
    quantity: Quantity


class WirePurchase(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str
    order_id: Id
    items: Annotated[list[WireLineItem], msgspec.Meta(min_length=1, max_length=MAX_ORDER_ITEMS)]
    total: Total
    coupon: Id | None = None


class WireConsent(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str
    channel: Channel
    granted: bool


class WireErasure(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str


class WireEngagement(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str
    trigger_id: Id
    channel: Channel
    type: EngagementKind


DECODERS: dict[str, msgspec.json.Decoder] = {
    InputTopic.CLICKS.value: msgspec.json.Decoder(WireClick),
    InputTopic.SEARCHES.value: msgspec.json.Decoder(WireSearch),
    InputTopic.PURCHASES.value: msgspec.json.Decoder(WirePurchase),
    InputTopic.CONSENTS.value: msgspec.json.Decoder(WireConsent),
    InputTopic.ERASURES.value: msgspec.json.Decoder(WireErasure),
    InputTopic.ENGAGEMENTS.value: msgspec.json.Decoder(WireEngagement),
}
