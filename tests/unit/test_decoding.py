"""schemas.decode_event: every malformed message gets the exact reject reason.

The reason is a metric label and the first thing an on-call engineer reads on a dead letter, so a
message rejected for the wrong reason is a bug even though it is rejected.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from schemas import (
    ALL_CHANNELS,
    Click,
    ClickAction,
    Consent,
    Erasure,
    LineItem,
    Purchase,
    RejectReason,
    Rejection,
    Search,
    decode_event,
)
from schemas.limits import MAX_CHANNEL_LENGTH, MAX_ORDER_ITEMS, MAX_TS_MS, MIN_TS_MS
from schemas.timestamps import BadTimestamp, format_rfc3339, parse_rfc3339, parse_rfc3339_slowly

KEY = b"u-1"

CLICK: dict[str, Any] = {
    "event_id": "e-1",
    "user_id": "u-1",
    "ts": "2026-11-25T10:00:00Z",
    "action": "view",
    "product_id": "p-1",
    "category": "shoes",
    "price": 59.9,
}
SEARCH: dict[str, Any] = {
    "event_id": "e-2",
    "user_id": "u-1",
    "ts": "2026-11-25T10:00:00Z",
    "query": "red shoes",
}
ITEM: dict[str, Any] = {"product_id": "p-1", "category": "shoes", "price": 59.9, "quantity": 2}
PURCHASE: dict[str, Any] = {
    "event_id": "e-3",
    "user_id": "u-1",
    "ts": "2026-11-25T10:00:00Z",
    "order_id": "o-1",
    "items": [ITEM],
    "total": 119.8,
}
CONSENT: dict[str, Any] = {
    "event_id": "e-4",
    "user_id": "u-1",
    "ts": "2026-11-25T10:00:00Z",
    "channel": "push",
    "granted": True,
}
ERASURE: dict[str, Any] = {
    "event_id": "e-5",
    "user_id": "u-1",
    "ts": "2026-11-25T10:00:00Z",
}
ENGAGEMENT: dict[str, Any] = {
    "event_id": "e-6",
    "user_id": "u-1",
    "ts": "2026-11-25T10:00:00Z",
    "trigger_id": "t-1",
    "channel": "push",
    "type": "clicked",
}
BODY = {"clicks": CLICK, "searches": SEARCH, "purchases": PURCHASE, "consents": CONSENT, "erasures": ERASURE, "engagements": ENGAGEMENT}

_ABSENT = object()


def _raw(body: dict[str, Any], **changes: Any) -> bytes:
    """``body`` as JSON bytes, with fields replaced (or dropped when set to _ABSENT)."""
    changed = {**body, **changes}
    return json.dumps({name: value for name, value in changed.items() if value is not _ABSENT}).encode()


def _item_raw(**changes: Any) -> bytes:
    item = {name: value for name, value in {**ITEM, **changes}.items() if value is not _ABSENT}
    return _raw(PURCHASE, items=[item])


R = RejectReason

# (id, topic, raw value, key, expected reason)
MALFORMED: list[tuple[str, str, bytes | None, bytes | None, RejectReason]] = [
    # -- not JSON, or not an object
    ("bad_json", "clicks", b'{"oops"', KEY, R.BAD_JSON),
    ("truncated_json", "clicks", _raw(CLICK)[:-1], KEY, R.BAD_JSON),
    ("empty_bytes", "clicks", b"", KEY, R.BAD_JSON),
    ("non_utf8_bytes", "searches", b'{"event_id": "caf\xe9"}', KEY, R.BAD_JSON),
    ("invalid_utf8_start_byte", "searches", b"\xff\xff\xff\xff", KEY, R.BAD_JSON),
    ("none_value", "clicks", None, KEY, R.BAD_JSON),
    ("json_array", "clicks", b"[1, 2]", KEY, R.NOT_AN_OBJECT),
    ("array_of_event", "clicks", b"[" + _raw(CLICK) + b"]", KEY, R.NOT_AN_OBJECT),
    ("json_string", "clicks", b'"click"', KEY, R.NOT_AN_OBJECT),
    ("json_number", "clicks", b"42", KEY, R.NOT_AN_OBJECT),
    ("json_null", "clicks", b"null", KEY, R.NOT_AN_OBJECT),
    # -- wrong JSON types
    ("string_price", "clicks", _raw(CLICK, price="59.9"), KEY, R.WRONG_TYPE),
    ("bool_price", "clicks", _raw(CLICK, price=True), KEY, R.WRONG_TYPE),
    ("float_quantity", "clicks", _raw(CLICK, quantity=1.5), KEY, R.WRONG_TYPE),
    # Python's json yields a float for 2.0, and the decoder wants an int (see the report).
    ("integral_float_quantity", "clicks", _raw(CLICK, quantity=2.0), KEY, R.WRONG_TYPE),
    ("bool_quantity", "clicks", _raw(CLICK, quantity=True), KEY, R.WRONG_TYPE),
    ("string_quantity", "clicks", _raw(CLICK, quantity="2"), KEY, R.WRONG_TYPE),
    ("number_event_id", "clicks", _raw(CLICK, event_id=17), KEY, R.WRONG_TYPE),
    ("number_user_id", "searches", _raw(SEARCH, user_id=1), KEY, R.WRONG_TYPE),
    ("number_ts", "clicks", _raw(CLICK, ts=1_795_600_800_000), KEY, R.WRONG_TYPE),
    ("number_action", "clicks", _raw(CLICK, action=1), KEY, R.WRONG_TYPE),
    ("list_query", "searches", _raw(SEARCH, query=["red", "shoes"]), KEY, R.WRONG_TYPE),
    ("number_session_id", "searches", _raw(SEARCH, session_id=5), KEY, R.WRONG_TYPE),
    ("object_coupon", "purchases", _raw(PURCHASE, coupon={"code": "X"}), KEY, R.WRONG_TYPE),
    ("items_not_a_list", "purchases", _raw(PURCHASE, items=ITEM), KEY, R.WRONG_TYPE),
    ("items_a_string", "purchases", _raw(PURCHASE, items="p-1"), KEY, R.WRONG_TYPE),
    ("item_not_an_object", "purchases", _raw(PURCHASE, items=["p-1"]), KEY, R.WRONG_TYPE),
    ("item_a_list", "purchases", _raw(PURCHASE, items=[ITEM, [1, 2]]), KEY, R.WRONG_TYPE),
    ("item_string_price", "purchases", _item_raw(price="59.9"), KEY, R.WRONG_TYPE),
    ("item_float_quantity", "purchases", _item_raw(quantity=0.5), KEY, R.WRONG_TYPE),
    ("string_total", "purchases", _raw(PURCHASE, total="119.8"), KEY, R.WRONG_TYPE),
    ("string_true_granted", "consents", _raw(CONSENT, granted="true"), KEY, R.WRONG_TYPE),
    ("string_false_granted", "consents", _raw(CONSENT, granted="false"), KEY, R.WRONG_TYPE),
    ("int_1_granted", "consents", _raw(CONSENT, granted=1), KEY, R.WRONG_TYPE),
    ("int_0_granted", "consents", _raw(CONSENT, granted=0), KEY, R.WRONG_TYPE),
    ("number_channel", "consents", _raw(CONSENT, channel=1), KEY, R.WRONG_TYPE),
    ("bool_channel", "consents", _raw(CONSENT, channel=True), KEY, R.WRONG_TYPE),
    ("number_erasure_user_id", "erasures", _raw(ERASURE, user_id=1), KEY, R.WRONG_TYPE),
    ("number_erasure_ts", "erasures", _raw(ERASURE, ts=1_795_600_800_000), KEY, R.WRONG_TYPE),
    # -- unknown types
    ("unknown_action", "clicks", _raw(CLICK, action="purchase"), KEY, R.UNKNOWN_TYPE),
    ("action_wrong_case", "clicks", _raw(CLICK, action="VIEW"), KEY, R.UNKNOWN_TYPE),
    ("unknown_topic", "orders", _raw(CLICK), KEY, R.UNKNOWN_TYPE),
    ("prefixed_topic", "prod.clicks", _raw(CLICK), KEY, R.UNKNOWN_TYPE),
    # -- absurd values
    ("negative_price", "clicks", _raw(CLICK, price=-0.01), KEY, R.ABSURD_VALUE),
    ("nan_price", "clicks", _raw(CLICK, price=float("nan")), KEY, R.ABSURD_VALUE),
    ("infinite_price", "clicks", _raw(CLICK, price=float("inf")), KEY, R.ABSURD_VALUE),
    ("overflowing_price", "clicks", _raw(CLICK).replace(b"59.9", b"1e400"), KEY, R.ABSURD_VALUE),
    ("price_above_max", "clicks", _raw(CLICK, price=1_000_001), KEY, R.ABSURD_VALUE),
    ("quantity_0", "clicks", _raw(CLICK, quantity=0), KEY, R.ABSURD_VALUE),
    ("negative_quantity", "clicks", _raw(CLICK, quantity=-1), KEY, R.ABSURD_VALUE),
    ("item_quantity_0", "purchases", _item_raw(quantity=0), KEY, R.ABSURD_VALUE),
    ("item_nan_price", "purchases", _item_raw(price=float("nan")), KEY, R.ABSURD_VALUE),
    ("negative_total", "purchases", _raw(PURCHASE, total=-1), KEY, R.ABSURD_VALUE),
    ("empty_event_id", "clicks", _raw(CLICK, event_id=""), KEY, R.ABSURD_VALUE),
    ("empty_query", "searches", _raw(SEARCH, query=""), KEY, R.ABSURD_VALUE),
    ("long_product_id", "clicks", _raw(CLICK, product_id="p" * 257), KEY, R.ABSURD_VALUE),
    ("empty_items", "purchases", _raw(PURCHASE, items=[]), KEY, R.ABSURD_VALUE),
    ("too_many_items", "purchases", _raw(PURCHASE, items=[ITEM] * (MAX_ORDER_ITEMS + 1)), KEY, R.ABSURD_VALUE),
    ("ts_in_1900", "clicks", _raw(CLICK, ts="1900-01-01T00:00:00Z"), KEY, R.ABSURD_VALUE),
    ("ts_in_2100", "searches", _raw(SEARCH, ts="2100-01-01T00:00:00Z"), KEY, R.ABSURD_VALUE),
    ("ts_epoch_zero", "purchases", _raw(PURCHASE, ts="1970-01-01T00:00:00Z"), KEY, R.ABSURD_VALUE),
    ("empty_channel", "consents", _raw(CONSENT, channel=""), KEY, R.ABSURD_VALUE),
    ("long_channel", "consents", _raw(CONSENT, channel="c" * (MAX_CHANNEL_LENGTH + 1)), KEY, R.ABSURD_VALUE),
    ("empty_erasure_event_id", "erasures", _raw(ERASURE, event_id=""), KEY, R.ABSURD_VALUE),
    ("consent_ts_in_1900", "consents", _raw(CONSENT, ts="1900-01-01T00:00:00Z"), KEY, R.ABSURD_VALUE),
    ("erasure_ts_in_2100", "erasures", _raw(ERASURE, ts="2100-01-01T00:00:00Z"), KEY, R.ABSURD_VALUE),
    # -- timestamps that are not RFC 3339 with an offset
    ("ts_without_offset", "clicks", _raw(CLICK, ts="2026-11-25T10:00:00"), KEY, R.BAD_TIMESTAMP),
    ("ts_date_only", "clicks", _raw(CLICK, ts="2026-11-25"), KEY, R.BAD_TIMESTAMP),
    ("ts_garbage", "searches", _raw(SEARCH, ts="yesterday"), KEY, R.BAD_TIMESTAMP),
    ("ts_empty", "searches", _raw(SEARCH, ts=""), KEY, R.BAD_TIMESTAMP),
    ("ts_impossible_date", "purchases", _raw(PURCHASE, ts="2026-02-30T10:00:00Z"), KEY, R.BAD_TIMESTAMP),
    ("consent_ts_without_offset", "consents", _raw(CONSENT, ts="2026-11-25T10:00:00"), KEY, R.BAD_TIMESTAMP),
    ("consent_ts_garbage", "consents", _raw(CONSENT, ts="yesterday"), KEY, R.BAD_TIMESTAMP),
    ("erasure_ts_without_offset", "erasures", _raw(ERASURE, ts="2026-11-25T10:00:00"), KEY, R.BAD_TIMESTAMP),
    ("erasure_ts_date_only", "erasures", _raw(ERASURE, ts="2026-11-25"), KEY, R.BAD_TIMESTAMP),
    # -- partitioning
    ("key_mismatch", "clicks", _raw(CLICK), b"u-2", R.KEY_MISMATCH),
    ("key_wrong_case", "searches", _raw(SEARCH), b"U-1", R.KEY_MISMATCH),
    ("missing_key", "clicks", _raw(CLICK), None, R.KEY_MISMATCH),
    ("empty_key", "purchases", _raw(PURCHASE), b"", R.KEY_MISMATCH),
    ("consent_key_mismatch", "consents", _raw(CONSENT), b"u-2", R.KEY_MISMATCH),
    ("consent_missing_key", "consents", _raw(CONSENT), None, R.KEY_MISMATCH),
    ("erasure_key_mismatch", "erasures", _raw(ERASURE), b"u-2", R.KEY_MISMATCH),
    ("engagement_key_mismatch", "engagements", _raw(ENGAGEMENT), b"u-2", R.KEY_MISMATCH),
    ("engagement_unknown_type", "engagements", _raw(ENGAGEMENT, type="read"), KEY, R.UNKNOWN_TYPE),
    ("engagement_number_type", "engagements", _raw(ENGAGEMENT, type=3), KEY, R.WRONG_TYPE),
    ("engagement_empty_trigger_id", "engagements", _raw(ENGAGEMENT, trigger_id=""), KEY, R.ABSURD_VALUE),
    ("erasure_missing_key", "erasures", _raw(ERASURE), None, R.KEY_MISMATCH),
]

REQUIRED = {
    "clicks": ["event_id", "user_id", "ts", "action", "product_id", "category", "price"],
    "searches": ["event_id", "user_id", "ts", "query"],
    "purchases": ["event_id", "user_id", "ts", "order_id", "items", "total"],
    "consents": ["event_id", "user_id", "ts", "channel", "granted"],
    "erasures": ["event_id", "user_id", "ts"],
    "engagements": ["event_id", "user_id", "ts", "trigger_id", "channel", "type"],
}

MISSING: list[tuple[str, str, bytes | None, bytes | None, RejectReason]] = [
    (f"{topic}_{how}_{name}", topic, _raw(BODY[topic], **{name: value}), KEY, R.MISSING_FIELD)
    for topic, names in REQUIRED.items()
    for name in names
    for how, value in (("without", _ABSENT), ("null", None))
] + [
    (f"item_{how}_{name}", "purchases", _item_raw(**{name: value}), KEY, R.MISSING_FIELD)
    for name in ITEM
    for how, value in (("without", _ABSENT), ("null", None))
] + [
    ("click_null_quantity", "clicks", _raw(CLICK, quantity=None), KEY, R.MISSING_FIELD),
    ("empty_object", "searches", b"{}", KEY, R.MISSING_FIELD),
]


def _cases(rows: list[tuple[str, str, bytes | None, bytes | None, RejectReason]]) -> list[Any]:
    return [pytest.param(topic, raw, key, reason, id=case_id) for case_id, topic, raw, key, reason in rows]


@pytest.mark.parametrize("topic, raw, key, reason", _cases(MALFORMED + MISSING))
def test_malformed_message_is_rejected_with_exact_reason(
    topic: str, raw: bytes | None, key: bytes | None, reason: RejectReason
) -> None:
    result = decode_event(topic, raw, key)
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result.detail
    assert result.detail


def test_nan_literal_is_valid_python_json_but_absurd() -> None:
    raw = _raw(CLICK).replace(b"59.9", b"NaN")
    assert b'"price": NaN' in raw
    result = decode_event("clicks", raw, KEY)
    assert isinstance(result, Rejection)
    assert result.reason is RejectReason.ABSURD_VALUE


def test_missing_field_detail_names_the_field() -> None:
    result = decode_event("clicks", _raw(CLICK, product_id=_ABSENT), KEY)
    assert isinstance(result, Rejection)
    assert "product_id" in result.detail


def test_lone_surrogate_user_id_is_rejected_not_raised() -> None:
    raw = _raw(SEARCH).replace(b'"u-1"', b'"\\ud800"')
    result = decode_event("searches", raw, KEY)
    assert isinstance(result, Rejection)
    assert result.reason is RejectReason.ABSURD_VALUE


# -- valid messages -----------------------------------------------------------------------------


def test_click_quantity_defaults_to_1() -> None:
    click = decode_event("clicks", _raw(CLICK), KEY)
    assert click == Click(
        event_id="e-1",
        user_id="u-1",
        ts_ms=1_795_600_800_000,
        utc_offset_min=0,
        action=ClickAction.VIEW,
        product_id="p-1",
        category="shoes",
        price=59.9,
        quantity=1,
        session_id=None,
    )
    assert isinstance(click.action, ClickAction)


def test_click_keeps_explicit_quantity_and_session() -> None:
    click = decode_event("clicks", _raw(CLICK, action="add_to_cart", quantity=3, session_id="s-1"), KEY)
    assert isinstance(click, Click)
    assert (click.action, click.quantity, click.session_id) == (ClickAction.ADD_TO_CART, 3, "s-1")


def test_integer_price_becomes_float() -> None:
    click = decode_event("clicks", _raw(CLICK, price=0), KEY)
    assert isinstance(click, Click)
    assert click.price == 0.0
    assert type(click.price) is float


@pytest.mark.parametrize("topic", sorted(BODY))
def test_unknown_fields_are_ignored(topic: str) -> None:
    plain = decode_event(topic, _raw(BODY[topic]), KEY)
    extended = decode_event(topic, _raw(BODY[topic], referrer="newsletter", nested={"a": [1, None]}), KEY)
    assert not isinstance(plain, Rejection)
    assert extended == plain


def test_unknown_line_item_fields_are_ignored() -> None:
    purchase = decode_event("purchases", _item_raw(sku="X-1", discount=None), KEY)
    assert isinstance(purchase, Purchase)
    assert purchase.items == (LineItem("p-1", "shoes", 59.9, 2),)


@pytest.mark.parametrize(
    "ts, ts_ms, offset_min",
    [
        ("2026-11-25T10:00:00Z", 1_795_600_800_000, 0),
        ("2026-11-25T11:00:00+01:00", 1_795_600_800_000, 60),
        ("2026-11-25T04:30:00-05:30", 1_795_600_800_000, -330),
        ("2026-11-25T10:00:00.250+00:00", 1_795_600_800_250, 0),
        ("2026-11-25T19:45:00.999+09:45", 1_795_600_800_999, 585),
    ],
)
def test_utc_offset_is_kept(ts: str, ts_ms: int, offset_min: int) -> None:
    search = decode_event("searches", _raw(SEARCH, ts=ts), KEY)
    assert isinstance(search, Search)
    assert (search.ts_ms, search.utc_offset_min) == (ts_ms, offset_min)


def test_optional_nulls_decode_to_none() -> None:
    search = decode_event("searches", _raw(SEARCH, category=None, session_id=None), KEY)
    assert search == Search("e-2", "u-1", 1_795_600_800_000, 0, "red shoes", None, None)


def test_purchase_items_are_line_item_tuples() -> None:
    second = {"product_id": "p-2", "category": "socks", "price": 4, "quantity": 1}
    purchase = decode_event("purchases", _raw(PURCHASE, items=[ITEM, second], coupon="BF"), KEY)
    assert purchase == Purchase(
        event_id="e-3",
        user_id="u-1",
        ts_ms=1_795_600_800_000,
        utc_offset_min=0,
        order_id="o-1",
        items=(LineItem("p-1", "shoes", 59.9, 2), LineItem("p-2", "socks", 4.0, 1)),
        total=119.8,
        coupon="BF",
    )
    assert isinstance(purchase.items, tuple)
    assert all(type(item) is LineItem for item in purchase.items)


def test_non_ascii_user_id_matches_its_utf8_key() -> None:
    search = decode_event("searches", _raw(SEARCH, user_id="ü-1"), "ü-1".encode())
    assert isinstance(search, Search)
    assert search.user_id == "ü-1"


def test_consent_decodes_with_offset() -> None:
    consent = decode_event("consents", _raw(CONSENT, ts="2026-11-25T11:00:00+01:00", channel="email"), KEY)
    assert consent == Consent(
        event_id="e-4",
        user_id="u-1",
        ts_ms=1_795_600_800_000,
        utc_offset_min=60,
        channel="email",
        granted=True,
    )


def test_false_granted_is_an_opt_out_not_a_missing_field() -> None:
    consent = decode_event("consents", _raw(CONSENT, granted=False), KEY)
    assert isinstance(consent, Consent)
    assert consent.granted is False


def test_all_channel_is_kept_as_sent() -> None:
    consent = decode_event("consents", _raw(CONSENT, channel="all"), KEY)
    assert isinstance(consent, Consent)
    assert consent.channel == ALL_CHANNELS


def test_channel_at_max_length_is_accepted() -> None:
    channel = "c" * MAX_CHANNEL_LENGTH
    consent = decode_event("consents", _raw(CONSENT, channel=channel), KEY)
    assert isinstance(consent, Consent)
    assert consent.channel == channel


def test_erasure_decodes() -> None:
    erasure = decode_event("erasures", _raw(ERASURE, ts="2026-11-25T04:30:00-05:30"), KEY)
    assert erasure == Erasure(event_id="e-5", user_id="u-1", ts_ms=1_795_600_800_000, utc_offset_min=-330)


def test_timestamps_agree_with_datetime_arithmetic_across_the_accepted_years() -> None:
    """parse_rfc3339 computes from the fields; datetime subtraction is the reference."""
    rng = random.Random(7)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    for _ in range(2000):
        offset = timedelta(minutes=rng.randint(-16 * 60, 16 * 60))
        moment = (epoch + timedelta(microseconds=rng.randint(MIN_TS_MS, MAX_TS_MS - 1) * 1000 + rng.randint(0, 999))).astimezone(
            timezone(offset)
        )
        expected_ms = (moment - epoch) // timedelta(milliseconds=1)
        assert parse_rfc3339(moment.isoformat()) == (expected_ms, offset // timedelta(minutes=1)), moment.isoformat()


def test_formatted_timestamps_agree_with_isoformat_and_parse_back() -> None:
    rng = random.Random(11)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    for _ in range(2000):
        epoch_ms = rng.randint(MIN_TS_MS, MAX_TS_MS - 1)
        offset_min = rng.choice([0, rng.randint(-16 * 60, 16 * 60)])
        moment = (epoch + timedelta(milliseconds=epoch_ms)).astimezone(timezone(timedelta(minutes=offset_min)))
        expected = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert format_rfc3339(epoch_ms, offset_min) == expected
        assert parse_rfc3339(expected) == (epoch_ms, offset_min)


def _parsed(parse: Any, text: str) -> tuple[int, int] | str:
    try:
        return parse(text)
    except BadTimestamp:
        return "rejected"


def test_the_digit_by_digit_parse_answers_as_datetime_for_timestamps_a_byte_or_three_off() -> None:
    """The fast layout and every near miss: a digit, separator or zone changed, added or dropped."""
    rng = random.Random(5)
    layouts = ["2026-11-25T10:00:00.250+01:00", "2026-11-25T09:00:00Z", "2024-02-29T23:59:59.999-12:30", "2026-11-25T10:00:00+05:45"]
    alphabet = "0123456789-+:.TZtz _\u00b2\uff10"
    accepted = 0
    for _ in range(30_000):
        text = rng.choice(layouts)
        for _ in range(rng.randint(0, 3)):
            at = rng.randrange(len(text) + 1)
            change = rng.choice(["replace", "insert", "delete"])
            if change == "insert":
                text = text[:at] + rng.choice(alphabet) + text[at:]
            elif at < len(text):
                text = text[:at] + (rng.choice(alphabet) if change == "replace" else "") + text[at + 1 :]
        expected = _parsed(parse_rfc3339_slowly, text)
        assert _parsed(parse_rfc3339, text) == expected, text
        accepted += expected != "rejected"
    assert accepted > 5_000


@pytest.mark.parametrize("year", ["0000", "0001", "0004", "1900", "1970", "2000", "2023", "2024", "2100", "9999"])
def test_the_digit_by_digit_parse_knows_every_calendar_day_as_datetime_does(year: str) -> None:
    """Every month and day number, real or not, around the leap-year rules and the calendar's ends."""
    for month in range(14):
        for day in range(33):
            for clock in ("00:00:00Z", "23:59:59.999-12:30"):
                text = f"{year}-{month:02d}-{day:02d}T{clock}"
                assert _parsed(parse_rfc3339, text) == _parsed(parse_rfc3339_slowly, text), text
