"""One message must never stop a worker: oversized, deeply nested, unforeseen and far-future input
each becomes a dead letter of bounded size, and decoding never raises.

Each case here once escaped: a 760 KB message's dead letter was over the producer's limit and
crash-looped the worker; 2,000 bytes of ``[[[[`` raised RecursionError out of the decoder; a
valid event dated 2099 moved its partition's clock 73 years ahead.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import orjson
import pytest

import schemas.decoding
from schemas import RejectReason, Rejection, decode_event

from schemas.limits import DEAD_LETTER_PREFIX_BYTES, MAX_DETAIL_LENGTH, MAX_JSON_DEPTH, MAX_KEY_BYTES, MAX_MESSAGE_BYTES, MAX_OUTPUT_BYTES
from schemas.outputs import DeadLetter
from schemas.timestamps import format_rfc3339

T0_MS = 1_795_597_200_000
HOUR_MS = 3_600_000
KEY = b"u-1"


def click(**changes: Any) -> bytes:
    body = {
        "event_id": "e-1",
        "user_id": "u-1",
        "ts": format_rfc3339(T0_MS),
        "action": "view",
        "product_id": "p-1",
        "category": "shoes",
        "price": 59.9,
        **changes,
    }
    return json.dumps(body).encode()


def rejected(result: object, reason: RejectReason) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result.detail
    assert len(result.detail) <= MAX_DETAIL_LENGTH
    return result


# -- too large -----------------------------------------------------------------------------------


def test_a_value_over_the_limit_is_too_large_even_when_it_is_a_valid_event():
    padded = click(note="x" * MAX_MESSAGE_BYTES)
    rejection = rejected(decode_event("clicks", padded, KEY), RejectReason.TOO_LARGE)
    assert str(len(padded)) in rejection.detail
    assert not isinstance(decode_event("clicks", click(note="x" * (MAX_MESSAGE_BYTES - 200)), KEY), Rejection)


def test_a_key_over_the_limit_is_too_large():
    rejected(decode_event("clicks", click(), b"k" * (MAX_KEY_BYTES + 1)), RejectReason.TOO_LARGE)


# -- nesting -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * 2000 + b"]" * 2000, id="nested_arrays"),
        pytest.param(b"[" * 100_000, id="unclosed_arrays"),
        pytest.param(b'{"a":' * 2000 + b"1" + b"}" * 2000, id="nested_objects"),
        pytest.param(click()[:-1] + b', "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}", id="deep_unknown_field"),
    ],
)
def test_deep_nesting_is_bad_json_and_never_a_recursion_error(raw: bytes):
    rejection = rejected(decode_event("clicks", raw, KEY), RejectReason.BAD_JSON)
    assert "nested" in rejection.detail or "not JSON" in rejection.detail


def test_nesting_up_to_the_limit_in_an_unknown_field_is_fine():
    depth = MAX_JSON_DEPTH - 1  # the event object itself is one level
    raw = click()[:-1] + b', "extra": ' + b"[" * depth + b"]" * depth + b"}"
    assert not isinstance(decode_event("clicks", raw, KEY), Rejection)


# -- anything else that goes wrong ----------------------------------------------------------------


def test_an_unforeseen_error_in_decoding_is_a_malformed_dead_letter_naming_the_error(monkeypatch: pytest.MonkeyPatch):
    """A decoder bug costs the one message, never the worker (the fast path is bypassed so the
    slow decoder, patched to fail as an unforeseen bug would, is reached)."""

    def broken(body: dict[str, Any]) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(schemas.decoding, "decode_valid", lambda topic, raw, key: None)
    monkeypatch.setitem(schemas.decoding._DECODERS, "clicks", broken)
    rejection = rejected(decode_event("clicks", click(), KEY), RejectReason.MALFORMED)
    assert rejection.detail == "ZeroDivisionError: division by zero"


# -- the clock -------------------------------------------------------------------------------------


def test_an_event_too_far_ahead_of_its_kafka_timestamp_is_rejected_and_one_within_it_is_not():
    rejection = rejected(decode_event("clicks", click(), KEY, kafka_ts_ms=T0_MS - HOUR_MS - 1000), RejectReason.FUTURE_TIMESTAMP)
    assert "3601 s ahead" in rejection.detail
    assert not isinstance(decode_event("clicks", click(), KEY, kafka_ts_ms=T0_MS - HOUR_MS), Rejection)
    assert not isinstance(decode_event("clicks", click(), KEY, kafka_ts_ms=T0_MS + 86_400_000), Rejection)  # late is fine


def test_the_skew_is_a_setting_zero_means_no_limit_and_no_timestamp_means_no_check():
    far = click(ts="2099-01-01T00:00:00Z")
    rejected(decode_event("clicks", far, KEY, kafka_ts_ms=T0_MS), RejectReason.FUTURE_TIMESTAMP)
    rejected(decode_event("clicks", click(), KEY, kafka_ts_ms=T0_MS - 61_000, max_future_skew_ms=60_000), RejectReason.FUTURE_TIMESTAMP)
    assert not isinstance(decode_event("clicks", far, KEY, kafka_ts_ms=T0_MS, max_future_skew_ms=0), Rejection)
    assert not isinstance(decode_event("clicks", far, KEY), Rejection)
    assert not isinstance(decode_event("clicks", far, KEY, kafka_ts_ms=-1), Rejection)  # a producer that set none


# -- dead letters ----------------------------------------------------------------------------------


def test_a_too_large_dead_letter_keeps_a_prefix_its_length_and_its_sha256():
    value = click(note="x" * MAX_MESSAGE_BYTES)
    letter = DeadLetter("clicks", 2, 41, KEY, value, "too_large", "too big")
    wire = letter.to_wire(rejected_at_ms=T0_MS)
    assert base64.b64decode(wire["value_base64"]) == value[:DEAD_LETTER_PREFIX_BYTES]
    assert (wire["value_length"], wire["value_sha256"], wire["truncated"]) == (len(value), hashlib.sha256(value).hexdigest(), True)
    assert (wire["key"], wire["key_base64"]) == ("u-1", None)


def test_a_key_that_is_not_utf8_is_kept_exactly_in_key_base64():
    key = b"\xff\xfeu1"
    wire = DeadLetter("clicks", 0, 1, key, b"{oops", "bad_json", "not JSON").to_wire(rejected_at_ms=T0_MS)
    assert wire["key"] is None
    assert base64.b64decode(wire["key_base64"]) == key
    assert (base64.b64decode(wire["value_base64"]), wire["truncated"]) == (b"{oops", False)


def test_the_largest_dead_letter_fits_in_one_kafka_message():
    """The worst of everything at once: a value just under the limit that is not UTF-8 text, a key
    over its limit made of control characters (JSON escapes each as six bytes), a detail at its
    longest. Its key and value together stay under MAX_OUTPUT_BYTES."""
    value = bytes(range(256)) * (MAX_MESSAGE_BYTES // 256)
    key = b"\x01" * (MAX_KEY_BYTES * 4)
    detail = decode_event("clicks", value, key)
    assert isinstance(detail, Rejection)
    letter = DeadLetter("clicks", 0, 1, key, value, "bad_json", "\x01" * MAX_DETAIL_LENGTH)
    encoded = orjson.dumps(letter.to_wire(rejected_at_ms=T0_MS))
    assert letter.kept_key is not None and len(letter.kept_key) == MAX_KEY_BYTES
    assert len(encoded) + len(letter.kept_key) < MAX_OUTPUT_BYTES
