"""The fast path of decoding: msgspec structs that parse and validate a well-formed message in
one pass of C, about four times faster than parsing to a dict and checking it field by field.

``decode_event`` tries this first. Whatever it does not take goes to the slow path in
``schemas/decoding.py``, which finds the fault and names it: a malformed message, and also text
outside ASCII, whose escapes, surrogates and lengths the slow path checks with care. So the fast
path must never accept what the slow path rejects: its constraints repeat the slow path's, and
the tests hold both paths to the same answer over generated traffic, malformed messages included.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.events import CLICK_ACTIONS, Click, Consent, Erasure, Event, InputTopic, LineItem, Purchase, Search
from schemas.limits import (
    MAX_CHANNEL_LENGTH,
    MAX_ID_LENGTH,
    MAX_ORDER_ITEMS,
    MAX_ORDER_TOTAL,
    MAX_PRICE,
    MAX_QUANTITY,
    MAX_TEXT_LENGTH,
    MAX_TS_MS,
    MIN_TS_MS,
)
from schemas.timestamps import parse_rfc3339

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT_LENGTH)]
Channel = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CHANNEL_LENGTH)]
Price = Annotated[float, msgspec.Meta(ge=0, le=MAX_PRICE)]  # msgspec takes JSON integers as floats, as the slow path does
Total = Annotated[float, msgspec.Meta(ge=0, le=MAX_ORDER_TOTAL)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]  # a JSON true is not an int to msgspec either
Action = Literal["view", "add_to_cart", "remove_from_cart"]

assert set(CLICK_ACTIONS) == set(Action.__args__)  # type: ignore[attr-defined]


class _Click(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str
    action: Action
    product_id: Id
    category: Id
    price: Price
    quantity: Quantity = 1
    session_id: Id | None = None

    def event(self, ts_ms: int, offset_min: int) -> Event:
        return Click(
            self.event_id,
            self.user_id,
            ts_ms,
            offset_min,
            CLICK_ACTIONS[self.action],
            self.product_id,
            self.category,
            self.price,
            self.quantity,
            self.session_id,
        )


class _Search(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str
    query: Text
    category: Id | None = None
    session_id: Id | None = None

    def event(self, ts_ms: int, offset_min: int) -> Event:
        return Search(self.event_id, self.user_id, ts_ms, offset_min, self.query, self.category, self.session_id)


class _LineItem(msgspec.Struct):
    product_id: Id
    category: Id
    price: Price
    quantity: Quantity


class _Purchase(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str
    order_id: Id
    items: Annotated[list[_LineItem], msgspec.Meta(min_length=1, max_length=MAX_ORDER_ITEMS)]
    total: Total
    coupon: Id | None = None

    def event(self, ts_ms: int, offset_min: int) -> Event:
        items = tuple(LineItem(item.product_id, item.category, item.price, item.quantity) for item in self.items)
        return Purchase(self.event_id, self.user_id, ts_ms, offset_min, self.order_id, items, self.total, self.coupon)


class _Consent(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str
    channel: Channel
    granted: bool

    def event(self, ts_ms: int, offset_min: int) -> Event:
        return Consent(self.event_id, self.user_id, ts_ms, offset_min, self.channel, self.granted)


class _Erasure(msgspec.Struct):
    event_id: Id
    user_id: Id
    ts: str

    def event(self, ts_ms: int, offset_min: int) -> Event:
        return Erasure(self.event_id, self.user_id, ts_ms, offset_min)


_DECODERS: dict[str, msgspec.json.Decoder] = {
    InputTopic.CLICKS.value: msgspec.json.Decoder(_Click),
    InputTopic.SEARCHES.value: msgspec.json.Decoder(_Search),
    InputTopic.PURCHASES.value: msgspec.json.Decoder(_Purchase),
    InputTopic.CONSENTS.value: msgspec.json.Decoder(_Consent),
    InputTopic.ERASURES.value: msgspec.json.Decoder(_Erasure),
}


def decode_valid(topic: str, raw: bytes, key: bytes | None) -> Event | None:
    """The event, if the message is plainly valid; None means "ask the slow path", never "invalid".

    >>> decode_valid("searches", b'{"event_id": "e1", "user_id": "u1", "ts": "2026-11-25T10:00:00Z", "query": "red shoes"}', b"u1")
    Search(event_id='e1', user_id='u1', ts_ms=1795600800000, utc_offset_min=0, query='red shoes', category=None, session_id=None)
    >>> decode_valid("searches", b'{"event_id": "e1", "user_id": "u1", "ts": "2026-11-25T10:00:00Z"}', b"u1") is None
    True
    """
    decoder = _DECODERS.get(topic)
    # ASCII without \u escapes: every string is plain ASCII, so lengths and encodings need no care.
    if decoder is None or not raw.isascii() or b"\\u" in raw:
        return None
    try:
        wire = decoder.decode(raw)
        ts_ms, offset_min = parse_rfc3339(wire.ts)
    except (msgspec.MsgspecError, ValueError):  # BadTimestamp is a ValueError
        return None
    if not MIN_TS_MS <= ts_ms < MAX_TS_MS or key != wire.user_id.encode():
        return None
    return wire.event(ts_ms, offset_min)
