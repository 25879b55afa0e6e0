"""The fast decoding path agrees with the slow one: whatever it accepts, the slow path accepts
as the same event, and it accepts all ordinary traffic (else it would be dead weight)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from schemas.decoding import Rejection, decode_event, decode_slowly
from schemas.events import Event, InputTopic
from schemas.limits import MAX_ID_LENGTH, MAX_ORDER_ITEMS, MAX_PRICE, MAX_QUANTITY, MAX_TEXT_LENGTH
from schemas.wire import decode_valid
from streams.traffic import ShopSimulator

START_MS = 1_795_597_200_000

VALID: dict[str, dict[str, Any]] = {
    "clicks": {
        "event_id": "e1", "user_id": "u1", "ts": "2026-11-25T10:00:00.250+01:00", "action": "add_to_cart",
        "product_id": "p1", "category": "shoes", "price": 40.0, "quantity": 2, "session_id": "s1",
    },
    "searches": {"event_id": "e2", "user_id": "u1", "ts": "2026-11-25T10:00:00Z", "query": "red shoes", "category": "shoes", "session_id": "s1"},
    "purchases": {
        "event_id": "e3", "user_id": "u1", "ts": "2026-11-25T10:00:00Z", "order_id": "o1",
        "items": [{"product_id": "p1", "category": "shoes", "price": 40.0, "quantity": 2}], "total": 80.0, "coupon": "WINTER15",
    },
    "consents": {"event_id": "e4", "user_id": "u1", "ts": "2026-11-25T10:00:00Z", "channel": "email", "granted": False},
    "erasures": {"event_id": "e5", "user_id": "u1", "ts": "2026-11-25T10:00:00Z"},
    "engagements": {"event_id": "e6", "user_id": "u1", "ts": "2026-11-25T10:00:00Z", "trigger_id": "t1", "channel": "push", "type": "opened"},
}

# Values a field may be swapped for: every JSON type, the edges of every bound, and text the
# fast path leaves to the slow one (non-ASCII, escapes, a lone surrogate).
ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 1.5, -0.0, 2, 10**30, 1e308, "", "x", "view", "remove_from_cart",
    "2026-11-25T10:00:00", "2026-13-25T10:00:00Z", "1900-01-01T00:00:00Z", "2100-01-01T00:00:00Z",
    "opened", "complained", "x" * MAX_ID_LENGTH, "x" * (MAX_ID_LENGTH + 1), "x" * (MAX_TEXT_LENGTH + 1), "é", "é" * MAX_ID_LENGTH, "\ud800",
    MAX_PRICE, MAX_PRICE + 0.01, MAX_QUANTITY, MAX_QUANTITY + 1, [], {}, [{}], ["p1"],
    [{"product_id": "p1", "category": "shoes", "price": 1, "quantity": True}],
    [{"product_id": "p1", "category": "shoes", "price": 1, "quantity": 1}] * (MAX_ORDER_ITEMS + 1),
]


def assert_agree(topic: str, raw: bytes, key: bytes | None) -> Event | None:
    fast = decode_valid(topic, raw, key)
    slow = decode_slowly(topic, raw, key)
    if fast is not None:
        assert fast == slow, (topic, raw)
    assert decode_event(topic, raw, key) == slow
    return fast


def raw_of(body: Any) -> bytes:
    return json.dumps(body).encode()  # json, not orjson: it writes a lone surrogate as an escape


@pytest.mark.parametrize("topic", list(VALID))
def test_a_valid_message_of_every_topic_takes_the_fast_path(topic: str) -> None:
    assert assert_agree(topic, raw_of(VALID[topic]), b"u1") is not None


@pytest.mark.parametrize("topic", list(VALID))
def test_every_field_swapped_for_odd_values_gets_the_same_answer_on_both_paths(topic: str) -> None:
    accepted = 0
    for field in [*VALID[topic], "unknown_field"]:
        for value in ODD_VALUES:
            accepted += assert_agree(topic, raw_of({**VALID[topic], field: value}), b"u1") is not None
        body = dict(VALID[topic])
        body.pop(field, None)
        assert_agree(topic, raw_of(body), b"u1")
    assert accepted > 0


@pytest.mark.parametrize(
    "raw, key",
    [
        (b"", b"u1"), (b"null", b"u1"), (b"[]", b"u1"), (b"{oops", b"u1"), (b"\xff\xfe", b"u1"),
        (raw_of(VALID["clicks"]), None), (raw_of(VALID["clicks"]), b"u2"), (raw_of(VALID["clicks"]) + b" x", b"u1"),
        (raw_of(VALID["clicks"]).replace(b'"u1"', b'"u2"', 1)[:-1] + b', "user_id": "u1"}', b"u1"),  # a repeated key: the last wins
        (raw_of(VALID["clicks"]).replace(b"40.0", b"NaN"), b"u1"),
        (raw_of(VALID["clicks"]).replace(b'"shoes"', b'"sh\\u00f6es"'), b"u1"),
    ],
)
def test_odd_bytes_get_the_same_answer_on_both_paths(raw: bytes, key: bytes | None) -> None:
    assert_agree("clicks", raw, key)


def test_generated_traffic_takes_the_fast_path_whenever_the_slow_one_accepts_it() -> None:
    simulator = ShopSimulator(users=300, seed=3, start_ms=START_MS, mean_gap_ms=500, bad_fraction=0.2)
    fast_accepted = slow_accepted = rejected = 0
    for message in simulator.events(6_000):
        raw = message.value if isinstance(message.value, bytes) else orjson.dumps(message.value)
        key = message.user_id.encode()
        fast = assert_agree(message.topic, raw, key)
        slow = decode_slowly(message.topic, raw, key)
        fast_accepted += fast is not None
        slow_accepted += not isinstance(slow, Rejection)
        rejected += isinstance(slow, Rejection)
    assert rejected > 500 and slow_accepted > 4_000
    assert fast_accepted == slow_accepted


def test_unknown_topics_are_left_to_the_slow_path() -> None:
    assert decode_valid("orders", raw_of(VALID["clicks"]), b"u1") is None
    assert {topic.value for topic in InputTopic} == set(VALID)
