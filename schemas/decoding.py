"""Raw Kafka bytes -> a typed event, or a rejection with a reason.

Validation lives at the edge so the core can trust every field it is given. Anything that fails
here becomes a dead letter; the reason codes are a closed set because they label a metric.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Callable

from schemas.events import (
    CLICK_ACTIONS,
    ENGAGEMENT_TYPES,
    Click,
    Consent,
    Engagement,
    Erasure,
    Event,
    InputTopic,
    LineItem,
    Purchase,
    Search,
)
from schemas.limits import (
    DEFAULT_MAX_FUTURE_SKEW_MS,
    MAX_CHANNEL_LENGTH,
    MAX_DETAIL_LENGTH,
    MAX_JSON_DEPTH,
    MAX_KEY_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_ID_LENGTH,
    MAX_ORDER_ITEMS,
    MAX_ORDER_TOTAL,
    MAX_PRICE,
    MAX_QUANTITY,
    MAX_TEXT_LENGTH,
    MAX_TS_MS,
    MIN_TS_MS,
)
from schemas.nesting import nests_deeper_than
from schemas.timestamps import BadTimestamp, parse_rfc3339
from schemas.wire import decode_valid


class RejectReason(StrEnum):
    """Why an input message was sent to dead letters."""

    BAD_JSON = "bad_json"  # not UTF-8 JSON at all, or nested deeper than MAX_JSON_DEPTH
    NOT_AN_OBJECT = "not_an_object"  # JSON, but not an object
    MISSING_FIELD = "missing_field"  # a required field is absent or null
    WRONG_TYPE = "wrong_type"  # a field has the wrong JSON type
    UNKNOWN_TYPE = "unknown_type"  # unknown topic, click action or engagement type
    ABSURD_VALUE = "absurd_value"  # well-typed but impossible (negative price, year 1900...)
    BAD_TIMESTAMP = "bad_timestamp"  # ts is not RFC 3339 with an offset
    KEY_MISMATCH = "key_mismatch"  # message key is not the user_id, so partitioning is wrong
    TOO_LARGE = "too_large"  # value over MAX_MESSAGE_BYTES or key over MAX_KEY_BYTES: never parsed
    FUTURE_TIMESTAMP = "future_timestamp"  # ts more than the allowed skew ahead of the Kafka timestamp
    MALFORMED = "malformed"  # decoding failed in a way no check above foresaw; the detail names the error


@dataclass(slots=True)
class Rejection:
    reason: RejectReason
    detail: str


class _Invalid(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode_event(
    topic: str,
    raw: bytes | None,
    key: bytes | None,
    *,
    kafka_ts_ms: int | None = None,
    max_future_skew_ms: int = DEFAULT_MAX_FUTURE_SKEW_MS,
) -> Event | Rejection:
    """Decode one message of a logical input topic. It never raises: whatever goes wrong with a
    message is that message's rejection, so one message can never stop a worker.

    ``kafka_ts_ms`` is the message's Kafka timestamp: an event more than ``max_future_skew_ms``
    ahead of it (0: no limit) is rejected, so a clock bug cannot move a partition's clock.

    >>> decode_event("searches", b'{"event_id": "e1", "user_id": "u1", '
    ...              b'"ts": "2026-11-25T10:00:00Z", "query": "red shoes"}', b"u1")
    Search(event_id='e1', user_id='u1', ts_ms=1795600800000, utc_offset_min=0, query='red shoes', category=None, session_id=None)
    >>> decode_event("clicks", b'{"oops"', b"u1").reason
    <RejectReason.BAD_JSON: 'bad_json'>
    >>> decode_event("clicks", b"[" * 2000 + b"]" * 2000, b"u1").reason
    <RejectReason.BAD_JSON: 'bad_json'>
    """
    if raw is not None and len(raw) > MAX_MESSAGE_BYTES:
        return Rejection(RejectReason.TOO_LARGE, f"value of {len(raw)} bytes is over the limit of {MAX_MESSAGE_BYTES}")
    if key is not None and len(key) > MAX_KEY_BYTES:
        return Rejection(RejectReason.TOO_LARGE, f"key of {len(key)} bytes is over the limit of {MAX_KEY_BYTES}")
    try:
        fast = None if raw is None else decode_valid(topic, raw, key)
        decoded = decode_slowly(topic, raw, key) if fast is None else fast
    except Exception as exc:  # a decoder bug must cost one message, never the worker: see the docstring
        return Rejection(RejectReason.MALFORMED, bounded_detail(f"{type(exc).__name__}: {exc}"))
    if isinstance(decoded, Rejection) or kafka_ts_ms is None or kafka_ts_ms <= 0 or max_future_skew_ms <= 0:
        return decoded
    ahead_ms = decoded.ts_ms - kafka_ts_ms
    if ahead_ms > max_future_skew_ms:
        return Rejection(
            RejectReason.FUTURE_TIMESTAMP,
            f"'ts' is {ahead_ms / 1000:.0f} s ahead of the message's Kafka timestamp; at most {max_future_skew_ms / 1000:.0f} s is allowed",
        )
    return decoded


def bounded_detail(detail: str) -> str:
    """A rejection's detail cut to MAX_DETAIL_LENGTH: it may quote the offending input.

    >>> len(bounded_detail("x" * 5000)) == MAX_DETAIL_LENGTH
    True
    """
    return detail if len(detail) <= MAX_DETAIL_LENGTH else detail[: MAX_DETAIL_LENGTH - 1] + "\u2026"


def decode_slowly(topic: str, raw: bytes | None, key: bytes | None) -> Event | Rejection:
    """``decode_event`` without its fast path and its size and time checks: the reference the
    fast path is tested against. It finds the fault and names it."""
    try:
        body = _load_object(raw)
        if not isinstance(body, dict):
            raise _Invalid(RejectReason.NOT_AN_OBJECT, f"expected a JSON object, got {type(body).__name__}")
        decoder = _DECODERS.get(topic)
        if decoder is None:
            raise _Invalid(RejectReason.UNKNOWN_TYPE, f"no event type for topic {topic!r}")
        event = decoder(body)
        if key is None or key != event.user_id.encode():
            raise _Invalid(RejectReason.KEY_MISMATCH, f"message key {key!r} is not user_id {event.user_id!r}")
        return event
    except _Invalid as exc:
        return Rejection(exc.reason, bounded_detail(exc.detail))


def _load_object(raw: bytes | None) -> Any:
    if raw is None:
        raise _Invalid(RejectReason.BAD_JSON, "empty message")
    if nests_deeper_than(raw, MAX_JSON_DEPTH):
        raise _Invalid(RejectReason.BAD_JSON, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Invalid(RejectReason.BAD_JSON, f"not JSON: {exc}") from None
    return body


def _required(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None:
        raise _Invalid(RejectReason.MISSING_FIELD, f"missing field {name!r}")
    return value


# Each field check below accepts a well-formed value in a test or two and leaves everything
# else, the rare case, to a slow path that finds what is wrong: decoding runs once per message.


def _text(body: dict[str, Any], name: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """Free text (a search query): 1 to ``limit`` characters of any valid Unicode."""
    value = body.get(name)
    if type(value) is str and 0 < len(value) <= limit and value.isascii():
        return value
    if value is None:
        raise _Invalid(RejectReason.MISSING_FIELD, f"missing field {name!r}")
    return _checked_text(value, name, limit)


def _id(body: dict[str, Any], name: str, limit: int = MAX_ID_LENGTH) -> str:
    """An identifier (ids, categories, channels): 1 to ``limit`` bytes of UTF-8, no control
    characters. Bytes, not characters, and no characters JSON must escape six bytes wide, so the
    records and messages built from ids have a size bound (schemas/limits.py)."""
    value = body.get(name)
    if type(value) is str and 0 < len(value) <= limit and value.isascii() and value.isprintable():
        return value
    if value is None:
        raise _Invalid(RejectReason.MISSING_FIELD, f"missing field {name!r}")
    return _checked_id(value, name, limit)


def _optional_id(body: dict[str, Any], name: str, limit: int = MAX_ID_LENGTH) -> str | None:
    """An optional identifier; null, absent and "" are all none (producers send "" for none)."""
    value = body.get(name)
    if value == "":
        return None
    if value is None or (type(value) is str and 0 < len(value) <= limit and value.isascii() and value.isprintable()):
        return value
    return _checked_id(value, name, limit)


def _checked_text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise _Invalid(RejectReason.WRONG_TYPE, f"{name!r} must be a string")
    if not value or len(value) > limit:
        raise _Invalid(RejectReason.ABSURD_VALUE, f"{name!r} must have 1 to {limit} characters")
    _encoded(value, name)
    return value


def _checked_id(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise _Invalid(RejectReason.WRONG_TYPE, f"{name!r} must be a string")
    if not value or len(_encoded(value, name)) > limit:
        raise _Invalid(RejectReason.ABSURD_VALUE, f"{name!r} must have 1 to {limit} bytes in UTF-8")
    if _CONTROL.search(value):
        raise _Invalid(RejectReason.ABSURD_VALUE, f"{name!r} must not contain control characters")
    return value


def _encoded(value: str, name: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError:  # a lone surrogate escape: JSON allows it, UTF-8 cannot carry it
        raise _Invalid(RejectReason.ABSURD_VALUE, f"{name!r} is not valid Unicode text") from None


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _number(body: dict[str, Any], name: str, maximum: float) -> float:
    value = body.get(name)
    if (type(value) is float or type(value) is int) and 0 <= value <= maximum:  # the range test also rejects NaN
        return float(value)
    value = _required(body, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid(RejectReason.WRONG_TYPE, f"{name!r} must be a number")
    if not 0 <= value <= maximum:
        raise _Invalid(RejectReason.ABSURD_VALUE, f"{name!r} must be between 0 and {maximum:g}, got {value!r}")
    return float(value)


def _flag(body: dict[str, Any], name: str) -> bool:
    value = _required(body, name)
    if not isinstance(value, bool):  # 1 or "true" would mean a producer bug, not a consent
        raise _Invalid(RejectReason.WRONG_TYPE, f"{name!r} must be true or false")
    return value


def _quantity(body: dict[str, Any], default: int | None) -> int:
    value = body.get("quantity", default)
    if type(value) is int and 1 <= value <= MAX_QUANTITY:
        return value
    if value is None:
        raise _Invalid(RejectReason.MISSING_FIELD, "missing field 'quantity'")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(RejectReason.WRONG_TYPE, "'quantity' must be an integer")
    raise _Invalid(RejectReason.ABSURD_VALUE, f"'quantity' must be between 1 and {MAX_QUANTITY}, got {value}")


def _common(body: dict[str, Any]) -> tuple[str, str, int, int]:
    event_id = _id(body, "event_id")
    user_id = _id(body, "user_id")
    ts = _required(body, "ts")
    if not isinstance(ts, str):
        raise _Invalid(RejectReason.WRONG_TYPE, "'ts' must be an RFC 3339 string")
    try:
        ts_ms, offset_min = parse_rfc3339(ts)
    except BadTimestamp as exc:
        raise _Invalid(RejectReason.BAD_TIMESTAMP, str(exc)) from None
    if not MIN_TS_MS <= ts_ms < MAX_TS_MS:
        raise _Invalid(RejectReason.ABSURD_VALUE, f"'ts' {ts} is outside the years 2000 to 2099")
    return event_id, user_id, ts_ms, offset_min


def _click(body: dict[str, Any]) -> Click:
    event_id, user_id, ts_ms, offset_min = _common(body)
    action = _text(body, "action")
    click_action = CLICK_ACTIONS.get(action)
    if click_action is None:
        raise _Invalid(RejectReason.UNKNOWN_TYPE, f"unknown click action {action!r}")
    return Click(
        event_id,
        user_id,
        ts_ms,
        offset_min,
        click_action,
        _id(body, "product_id"),
        _id(body, "category"),
        _number(body, "price", MAX_PRICE),
        _quantity(body, 1),
        _optional_id(body, "session_id"),
    )


def _search(body: dict[str, Any]) -> Search:
    event_id, user_id, ts_ms, offset_min = _common(body)
    return Search(
        event_id=event_id,
        user_id=user_id,
        ts_ms=ts_ms,
        utc_offset_min=offset_min,
        query=_text(body, "query"),
        category=_optional_id(body, "category"),
        session_id=_optional_id(body, "session_id"),
    )


def _line_item(value: Any) -> LineItem:
    if not isinstance(value, dict):
        raise _Invalid(RejectReason.WRONG_TYPE, "every entry of 'items' must be an object")
    return LineItem(
        product_id=_id(value, "product_id"),
        category=_id(value, "category"),
        price=_number(value, "price", MAX_PRICE),
        quantity=_quantity(value, None),
    )


def _purchase(body: dict[str, Any]) -> Purchase:
    event_id, user_id, ts_ms, offset_min = _common(body)
    items = _required(body, "items")
    if not isinstance(items, list):
        raise _Invalid(RejectReason.WRONG_TYPE, "'items' must be a list")
    if not 1 <= len(items) <= MAX_ORDER_ITEMS:
        raise _Invalid(RejectReason.ABSURD_VALUE, f"'items' must hold 1 to {MAX_ORDER_ITEMS} entries")
    return Purchase(
        event_id=event_id,
        user_id=user_id,
        ts_ms=ts_ms,
        utc_offset_min=offset_min,
        order_id=_id(body, "order_id"),
        items=tuple(_line_item(item) for item in items),
        total=_number(body, "total", MAX_ORDER_TOTAL),
        coupon=_optional_id(body, "coupon"),
    )


def _consent(body: dict[str, Any]) -> Consent:
    event_id, user_id, ts_ms, offset_min = _common(body)
    return Consent(
        event_id=event_id,
        user_id=user_id,
        ts_ms=ts_ms,
        utc_offset_min=offset_min,
        channel=_id(body, "channel", MAX_CHANNEL_LENGTH),
        granted=_flag(body, "granted"),
    )


def _erasure(body: dict[str, Any]) -> Erasure:
    event_id, user_id, ts_ms, offset_min = _common(body)
    return Erasure(event_id=event_id, user_id=user_id, ts_ms=ts_ms, utc_offset_min=offset_min)


def _engagement(body: dict[str, Any]) -> Engagement:
    event_id, user_id, ts_ms, offset_min = _common(body)
    trigger_id = _id(body, "trigger_id")
    channel = _id(body, "channel", MAX_CHANNEL_LENGTH)
    kind = _text(body, "type")
    engagement_type = ENGAGEMENT_TYPES.get(kind)
    if engagement_type is None:
        raise _Invalid(RejectReason.UNKNOWN_TYPE, f"unknown engagement type {kind!r}")
    return Engagement(event_id, user_id, ts_ms, offset_min, trigger_id, channel, engagement_type)


_DECODERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    InputTopic.CLICKS.value: _click,
    InputTopic.SEARCHES.value: _search,
    InputTopic.PURCHASES.value: _purchase,
    InputTopic.CONSENTS.value: _consent,
    InputTopic.ERASURES.value: _erasure,
    InputTopic.ENGAGEMENTS.value: _engagement,
}
