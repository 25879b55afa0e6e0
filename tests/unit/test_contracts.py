"""Keeps the published JSON Schemas (schemas/json) in step with the code that enforces them.

Other teams validate their producers and consumers against those files; if the decoder or the
output records change and the schemas do not, these tests fail. The rule checked throughout:
a message the schema rejects, the decoder rejects too, and the other way round.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import uuid
from importlib.resources import files
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from schemas import (
    Click,
    ClickAction,
    Consent,
    Conversion,
    ConversionGroup,
    DeadLetter,
    Engagement,
    EngagementType,
    Erasure,
    ErasureDone,
    InputTopic,
    LineItem,
    Purchase,
    RejectReason,
    Rejection,
    Search,
    Suppression,
    SuppressionReason,
    Trigger,
    decode_event,
    trigger_id_for,
)
from schemas.contracts import SCHEMA_FOR_TOPIC, load_schema
from tests.wire import click_value, consent_value, erasure_value, purchase_value
from schemas.limits import (
    MAX_CHANNEL_LENGTH,
    MAX_ID_LENGTH,
    MAX_ORDER_ITEMS,
    MAX_ORDER_TOTAL,
    MAX_PRICE,
    MAX_QUANTITY,
    MAX_TEXT_LENGTH,
)

KEY = b"u-1"

VALID: dict[str, dict[str, Any]] = {
    "clicks": {
        "event_id": "e-1",
        "user_id": "u-1",
        "ts": "2026-11-25T10:00:00.250+01:00",
        "action": "add_to_cart",
        "product_id": "p-1",
        "category": "shoes",
        "price": 59.9,
        "quantity": 2,
        "session_id": "s-1",
    },
    "searches": {
        "event_id": "e-2",
        "user_id": "u-1",
        "ts": "2026-11-25T10:00:00-05:30",
        "query": "red shoes",
        "category": "shoes",
        "session_id": "s-1",
    },
    "purchases": {
        "event_id": "e-3",
        "user_id": "u-1",
        "ts": "2026-11-25T09:00:00Z",
        "order_id": "o-1",
        "items": [
            {"product_id": "p-1", "category": "shoes", "price": 59.9, "quantity": 2},
            {"product_id": "p-2", "category": "socks", "price": 4, "quantity": 1},
        ],
        "total": 123.8,
        "coupon": "BLACKFRIDAY",
    },
    "consents": {
        "event_id": "e-4",
        "user_id": "u-1",
        "ts": "2026-11-25T10:00:00+01:00",
        "channel": "email",
        "granted": False,
    },
    "erasures": {
        "event_id": "e-5",
        "user_id": "u-1",
        "ts": "2026-11-25T10:00:00.125Z",
    },
    "engagements": {
        "event_id": "e-6",
        "user_id": "u-1",
        "ts": "2026-11-25T10:00:00Z",
        "trigger_id": "t-1",
        "channel": "email",
        "type": "opened",
    },
}

DECODED: dict[str, Any] = {
    "clicks": Click(
        event_id="e-1",
        user_id="u-1",
        ts_ms=1_795_597_200_250,
        utc_offset_min=60,
        action=ClickAction.ADD_TO_CART,
        product_id="p-1",
        category="shoes",
        price=59.9,
        quantity=2,
        session_id="s-1",
    ),
    "searches": Search(
        event_id="e-2",
        user_id="u-1",
        ts_ms=1_795_620_600_000,
        utc_offset_min=-330,
        query="red shoes",
        category="shoes",
        session_id="s-1",
    ),
    "purchases": Purchase(
        event_id="e-3",
        user_id="u-1",
        ts_ms=1_795_597_200_000,
        utc_offset_min=0,
        order_id="o-1",
        items=(LineItem("p-1", "shoes", 59.9, 2), LineItem("p-2", "socks", 4.0, 1)),
        total=123.8,
        coupon="BLACKFRIDAY",
    ),
    "consents": Consent(
        event_id="e-4",
        user_id="u-1",
        ts_ms=1_795_597_200_000,
        utc_offset_min=60,
        channel="email",
        granted=False,
    ),
    "erasures": Erasure(event_id="e-5", user_id="u-1", ts_ms=1_795_600_800_125, utc_offset_min=0),
    "engagements": Engagement("e-6", "u-1", 1_795_600_800_000, 0, "t-1", "email", EngagementType.OPENED),
}

EVENT_CLASS = {"clicks": Click, "searches": Search, "purchases": Purchase, "consents": Consent, "erasures": Erasure, "engagements": Engagement}
TOPICS = sorted(SCHEMA_FOR_TOPIC)
OUTPUT_SCHEMAS = ["trigger", "suppression", "conversion", "dead_letter", "erasure_done"]
ALL_SCHEMAS = [SCHEMA_FOR_TOPIC[topic] for topic in TOPICS] + OUTPUT_SCHEMAS

Path = tuple[str | int, ...]

# Every limit the decoder enforces, as (path into the event, JSON Schema keyword) -> value. The
# schemas must carry exactly these: no limit missing, none the decoder does not enforce.
_ID = {"minLength": 1, "maxLength": MAX_ID_LENGTH}
_OPTIONAL_ID = {"maxLength": MAX_ID_LENGTH}  # "" means none, as null does
_PRICE = {"minimum": 0, "maximum": MAX_PRICE}
_QUANTITY = {"minimum": 1, "maximum": MAX_QUANTITY}


def _limits(*fields: tuple[Path, dict[str, float]]) -> dict[tuple[Path, str], float]:
    return {(path, keyword): value for path, limits in fields for keyword, value in limits.items()}


EXPECTED_LIMITS: dict[str, dict[tuple[Path, str], float]] = {
    "clicks": _limits(
        (("event_id",), _ID),
        (("user_id",), _ID),
        (("product_id",), _ID),
        (("category",), _ID),
        (("price",), _PRICE),
        (("quantity",), _QUANTITY),
        (("session_id",), _OPTIONAL_ID),
    ),
    "searches": _limits(
        (("event_id",), _ID),
        (("user_id",), _ID),
        (("query",), {"minLength": 1, "maxLength": MAX_TEXT_LENGTH}),
        (("category",), _OPTIONAL_ID),
        (("session_id",), _OPTIONAL_ID),
    ),
    "purchases": _limits(
        (("event_id",), _ID),
        (("user_id",), _ID),
        (("order_id",), _ID),
        (("items",), {"minItems": 1, "maxItems": MAX_ORDER_ITEMS}),
        (("items", 0, "product_id"), _ID),
        (("items", 0, "category"), _ID),
        (("items", 0, "price"), _PRICE),
        (("items", 0, "quantity"), _QUANTITY),
        (("total",), {"minimum": 0, "maximum": MAX_ORDER_TOTAL}),
        (("coupon",), _OPTIONAL_ID),
    ),
    "consents": _limits(
        (("event_id",), _ID),
        (("user_id",), _ID),
        (("channel",), {"minLength": 1, "maxLength": MAX_CHANNEL_LENGTH}),
    ),
    "erasures": _limits(
        (("event_id",), _ID),
        (("user_id",), _ID),
    ),
    "engagements": _limits(
        (("event_id",), _ID),
        (("user_id",), _ID),
        (("trigger_id",), _ID),
        (("channel",), {"minLength": 1, "maxLength": MAX_CHANNEL_LENGTH}),
    ),
}
LIMIT_KEYWORDS = {"minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"}


# -- helpers ------------------------------------------------------------------------------------


@functools.cache
def _registry() -> Registry:
    """Every published schema under its $id, so a $ref between them (a suppression's trigger)
    resolves offline, as it does for a consumer who loads the files side by side."""
    schemas = [load_schema(name) for name in ALL_SCHEMAS]
    return Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in schemas)


def _validator(name: str) -> Draft202012Validator:
    # Without the optional rfc3339-validator package the FormatChecker skips "date-time", so the
    # ts pattern is what really enforces the offset; the tests below rely on that pattern.
    return Draft202012Validator(load_schema(name), format_checker=FormatChecker(), registry=_registry())


def _schema_accepts(topic: str, body: Any) -> bool:
    return _validator(SCHEMA_FOR_TOPIC[topic]).is_valid(body)


def _decode(topic: str, body: Any) -> Any:
    """Decode ``body`` as sent with a correct key, so only the body can cause a rejection."""
    user_id = body.get("user_id") if isinstance(body, dict) else None
    key = user_id.encode() if isinstance(user_id, str) else KEY
    return decode_event(topic, json.dumps(body).encode(), key)


def _decoder_accepts(topic: str, body: Any) -> bool:
    return not isinstance(_decode(topic, body), Rejection)


def _reason(topic: str, body: Any) -> RejectReason | None:
    result = _decode(topic, body)
    return result.reason if isinstance(result, Rejection) else None


def _with(topic: str, path: Path, value: Any) -> dict[str, Any]:
    """A copy of the valid example with the field at ``path`` set to ``value``."""
    body = copy.deepcopy(VALID[topic])
    target: Any = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


def _without(topic: str, path: Path) -> dict[str, Any]:
    body = copy.deepcopy(VALID[topic])
    target: Any = body
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return body


def _property(schema: dict[str, Any], path: Path) -> dict[str, Any]:
    node = schema
    for part in path:
        node = node["items"] if isinstance(part, int) else node["properties"][part]
    return node


def _types(node: dict[str, Any]) -> set[str]:
    declared = node["type"]
    return {declared} if isinstance(declared, str) else set(declared)


def _walk(schema: dict[str, Any], path: Path = ()) -> list[tuple[Path, dict[str, Any]]]:
    """Every property of an event schema, line items included, with its path."""
    out = []
    for name, node in schema["properties"].items():
        out.append(((*path, name), node))
        if "object" in _types(node.get("items", {"type": []})):
            out.extend(_walk(node["items"], (*path, name, 0)))
    return out


def _wire_fields(cls: type) -> set[str]:
    """The JSON properties an event dataclass comes from: ts_ms and utc_offset_min both come from ts."""
    return _from_wire({field.name for field in dataclasses.fields(cls)})


def _from_wire(names: set[str]) -> set[str]:
    if "ts_ms" in names:
        return (names - {"ts_ms", "utc_offset_min"}) | {"ts"}
    return names


def _required_fields(cls: type) -> set[str]:
    """Fields without a default must be sent; the others are optional on the wire too."""
    return _from_wire(
        {
            field.name
            for field in dataclasses.fields(cls)
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        }
    )


def _required_paths(topic: str) -> list[Path]:
    """Required properties, and required properties of array entries (path index 0)."""
    schema = load_schema(SCHEMA_FOR_TOPIC[topic])
    paths: list[Path] = [(name,) for name in schema["required"]]
    for name, node in schema["properties"].items():
        paths += [(name, 0, inner) for inner in node.get("items", {}).get("required", [])]
    return paths


def _params(pairs: list[tuple[str, Path]]) -> list[Any]:
    return [pytest.param(topic, path, id=f"{topic}:{'.'.join(map(str, path))}") for topic, path in pairs]


# -- the schema files themselves ----------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_schema_is_valid_draft_2020_12_with_its_own_id(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://nudge.example/schemas/{name}.schema.json"
    assert schema["title"] and schema["description"]
    assert schema["type"] == "object"
    assert set(schema["required"]) <= set(schema["properties"])


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_every_property_is_described(name: str) -> None:
    schema = load_schema(name)
    undescribed = [path for path, node in _walk(schema) if not node.get("description")]
    assert undescribed == []


def test_every_input_topic_has_a_schema() -> None:
    assert set(SCHEMA_FOR_TOPIC) == {topic.value for topic in InputTopic}


@pytest.mark.parametrize("topic", TOPICS)
def test_input_schemas_allow_unknown_properties(topic: str) -> None:
    """The decoder ignores unknown fields, so producers may add some before Nudge knows them."""
    schema = load_schema(SCHEMA_FOR_TOPIC[topic])
    assert schema.get("additionalProperties", True) is not False
    body = {**VALID[topic], "referrer": "newsletter", "experiment": {"arm": "b"}}
    assert _schema_accepts(topic, body)
    assert _decode(topic, body) == DECODED[topic]


# -- valid examples -----------------------------------------------------------------------------


@pytest.mark.parametrize("topic", TOPICS)
def test_valid_example_matches_schema_and_decodes(topic: str) -> None:
    _validator(SCHEMA_FOR_TOPIC[topic]).validate(VALID[topic])
    event = _decode(topic, VALID[topic])
    assert type(event) is EVENT_CLASS[topic]
    assert event == DECODED[topic]


@pytest.mark.parametrize("topic", TOPICS)
def test_minimal_example_matches_schema_and_decodes(topic: str) -> None:
    schema = load_schema(SCHEMA_FOR_TOPIC[topic])
    minimal = {name: VALID[topic][name] for name in schema["required"]}
    assert _schema_accepts(topic, minimal)
    assert isinstance(_decode(topic, minimal), EVENT_CLASS[topic])


# -- fields -------------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", TOPICS)
def test_schema_properties_are_the_dataclass_fields(topic: str) -> None:
    schema = load_schema(SCHEMA_FOR_TOPIC[topic])
    assert set(schema["properties"]) == _wire_fields(EVENT_CLASS[topic])
    assert set(schema["required"]) == _required_fields(EVENT_CLASS[topic])


def test_line_item_properties_are_the_dataclass_fields() -> None:
    items = load_schema("purchase")["properties"]["items"]["items"]
    assert set(items["properties"]) == _wire_fields(LineItem)
    assert set(items["required"]) == _required_fields(LineItem)


def test_click_action_enum_matches_code() -> None:
    action = load_schema("click")["properties"]["action"]
    assert action["enum"] == [member.value for member in ClickAction]


def test_engagement_type_enum_matches_code() -> None:
    assert load_schema("engagement")["properties"]["type"]["enum"] == [member.value for member in EngagementType]


def test_dead_letter_reason_enum_matches_code() -> None:
    reason = load_schema("dead_letter")["properties"]["reason"]
    assert reason["enum"] == [member.value for member in RejectReason]


@pytest.mark.parametrize("topic, path", _params([(t, p) for t in TOPICS for p in _required_paths(t)]))
def test_removing_a_required_field_fails_both(topic: str, path: Path) -> None:
    body = _without(topic, path)
    assert not _schema_accepts(topic, body)
    assert _reason(topic, body) is RejectReason.MISSING_FIELD


@pytest.mark.parametrize("topic, path", _params([(t, p) for t in TOPICS for p in _required_paths(t)]))
def test_null_required_field_fails_both(topic: str, path: Path) -> None:
    body = _with(topic, path, None)
    assert not _schema_accepts(topic, body)
    assert _reason(topic, body) is RejectReason.MISSING_FIELD


def _optional_paths() -> list[tuple[str, Path]]:
    out = []
    for topic in TOPICS:
        schema = load_schema(SCHEMA_FOR_TOPIC[topic])
        out += [(topic, (name,)) for name in schema["properties"] if name not in schema["required"]]
    return out


@pytest.mark.parametrize("topic, path", _params(_optional_paths()))
def test_optional_field_may_be_absent(topic: str, path: Path) -> None:
    body = _without(topic, path)
    assert _schema_accepts(topic, body)
    assert _decoder_accepts(topic, body)


@pytest.mark.parametrize("topic, path", _params(_optional_paths()))
def test_optional_field_is_nullable_in_schema_exactly_when_decoder_accepts_null(topic: str, path: Path) -> None:
    schema_nullable = "null" in _types(_property(load_schema(SCHEMA_FOR_TOPIC[topic]), path))
    body = _with(topic, path, None)
    assert _schema_accepts(topic, body) is schema_nullable
    assert _decoder_accepts(topic, body) is schema_nullable


@pytest.mark.parametrize("topic, path", _params([(topic, path) for topic, path in _optional_paths() if "string" in _types(_property(load_schema(SCHEMA_FOR_TOPIC[topic]), path))]))
def test_an_empty_optional_string_is_the_field_absent_for_both(topic: str, path: Path) -> None:
    """Producers send "" for "none" (a coupon, a session): it is not an absurd value."""
    body = _with(topic, path, "")
    assert _schema_accepts(topic, body)
    assert _decode(topic, body) == _decode(topic, _without(topic, path))


_WRONG_TYPED = {"string": 7, "number": "59.9", "integer": 1.5, "boolean": "true", "array": {"0": 1}, "object": ["x"]}


def _typed_paths() -> list[tuple[str, Path]]:
    return [(topic, path) for topic in TOPICS for path, _ in _walk(load_schema(SCHEMA_FOR_TOPIC[topic]))]


@pytest.mark.parametrize("topic, path", _params(_typed_paths()))
def test_wrong_json_type_fails_both(topic: str, path: Path) -> None:
    node = _property(load_schema(SCHEMA_FOR_TOPIC[topic]), path)
    main_type = next(iter(_types(node) - {"null"}))
    body = _with(topic, path, _WRONG_TYPED[main_type])
    assert not _schema_accepts(topic, body)
    assert _reason(topic, body) is RejectReason.WRONG_TYPE


@pytest.mark.parametrize("path", [("price",), ("quantity",)])
def test_booleans_are_not_numbers_for_either(path: Path) -> None:
    body = _with("clicks", path, True)
    assert not _schema_accepts("clicks", body)
    assert _reason("clicks", body) is RejectReason.WRONG_TYPE


@pytest.mark.parametrize("granted", ["true", "false", 1, 0, [True], {"granted": True}])
def test_granted_must_be_a_json_boolean_for_both(granted: Any) -> None:
    body = _with("consents", ("granted",), granted)
    assert not _schema_accepts("consents", body)
    assert _reason("consents", body) is RejectReason.WRONG_TYPE


@pytest.mark.parametrize("granted", [True, False])
def test_both_granted_values_pass_both(granted: bool) -> None:
    body = _with("consents", ("granted",), granted)
    assert _schema_accepts("consents", body)
    assert _decode("consents", body) == dataclasses.replace(DECODED["consents"], granted=granted)


def test_unknown_click_action_fails_both() -> None:
    body = _with("clicks", ("action",), "purchase")
    assert not _schema_accepts("clicks", body)
    assert _reason("clicks", body) is RejectReason.UNKNOWN_TYPE


# -- wire builders the other test tiers share ---------------------------------------------------

WIRE_TS_MS = 1_795_600_800_250

WIRE_EXAMPLES = [
    pytest.param("clicks", click_value("u-1", WIRE_TS_MS, "add_to_cart", quantity=2), id="click_value"),
    pytest.param("purchases", purchase_value("u-1", WIRE_TS_MS, [("p-1", 59.9, 2)]), id="purchase_value"),
    pytest.param("consents", consent_value("u-1", WIRE_TS_MS), id="consent_value"),
    pytest.param("consents", consent_value("u-1", WIRE_TS_MS, "all", granted=False), id="consent_value-opt_out"),
    pytest.param("erasures", erasure_value("u-1", WIRE_TS_MS), id="erasure_value"),
]


@pytest.mark.parametrize("topic, body", WIRE_EXAMPLES)
def test_wire_builders_produce_what_both_accept(topic: str, body: dict[str, Any]) -> None:
    assert _schema_accepts(topic, body)
    event = _decode(topic, body)
    assert type(event) is EVENT_CLASS[topic]
    assert (event.user_id, event.ts_ms, event.utc_offset_min) == ("u-1", WIRE_TS_MS, 0)


def test_consent_value_builds_the_consent_asked_for() -> None:
    assert _decode("consents", consent_value("u-1", WIRE_TS_MS, "sms", granted=False)) == Consent(
        event_id=f"u-1-opt-out-sms-{WIRE_TS_MS}",
        user_id="u-1",
        ts_ms=WIRE_TS_MS,
        utc_offset_min=0,
        channel="sms",
        granted=False,
    )


def test_opt_in_and_opt_out_at_the_same_time_get_distinct_event_ids() -> None:
    opt_in = consent_value("u-1", WIRE_TS_MS, "push", granted=True)
    opt_out = consent_value("u-1", WIRE_TS_MS, "push", granted=False)
    assert opt_in["event_id"] != opt_out["event_id"]


# -- limits -------------------------------------------------------------------------------------


def _schema_limits(topic: str) -> dict[tuple[Path, str], float]:
    schema = load_schema(SCHEMA_FOR_TOPIC[topic])
    return {
        (path, keyword): value
        for path, node in _walk(schema)
        for keyword, value in node.items()
        if keyword in LIMIT_KEYWORDS
    }


@pytest.mark.parametrize("topic", TOPICS)
def test_schema_limits_are_the_decoder_limits(topic: str) -> None:
    assert _schema_limits(topic) == EXPECTED_LIMITS[topic]


def _value_at(topic: str, path: Path, keyword: str, limit: float, step: int) -> Any:
    """A value for the field at ``path`` that is ``limit`` moved by ``step`` (-1, 0 or +1) units."""
    if keyword in ("minLength", "maxLength"):
        return "x" * (int(limit) + step)
    if keyword in ("minItems", "maxItems"):
        item = VALID[topic][path[0]][0]
        return [copy.deepcopy(item) for _ in range(int(limit) + step)]
    node = _property(load_schema(SCHEMA_FOR_TOPIC[topic]), path)
    if _types(node) & {"integer"}:
        return int(limit) + step
    if step == 0:
        return float(limit)
    return math.nextafter(float(limit), math.inf * step)  # the nearest float beyond the limit


def _limit_params() -> list[Any]:
    return [
        pytest.param(topic, path, keyword, limit, id=f"{topic}:{'.'.join(map(str, path))}:{keyword}")
        for topic in TOPICS
        for (path, keyword), limit in EXPECTED_LIMITS[topic].items()
    ]


@pytest.mark.parametrize("topic, path, keyword, limit", _limit_params())
def test_value_at_the_limit_passes_both(topic: str, path: Path, keyword: str, limit: float) -> None:
    body = _with(topic, path, _value_at(topic, path, keyword, limit, 0))
    assert _schema_accepts(topic, body)
    assert _decoder_accepts(topic, body)


@pytest.mark.parametrize("topic, path, keyword, limit", _limit_params())
def test_value_just_beyond_the_limit_fails_both(topic: str, path: Path, keyword: str, limit: float) -> None:
    step = 1 if keyword.startswith("max") else -1
    body = _with(topic, path, _value_at(topic, path, keyword, limit, step))
    assert not _schema_accepts(topic, body)
    assert _reason(topic, body) is RejectReason.ABSURD_VALUE


def _id_params() -> list[Any]:
    """Every identifier field: the string limits of at most 256 (ids) or 64 (channels)."""
    return [
        pytest.param(topic, path, int(limit), id=f"{topic}:{'.'.join(map(str, path))}")
        for topic in TOPICS
        for (path, keyword), limit in EXPECTED_LIMITS[topic].items()
        if keyword == "maxLength" and path != ("query",)
    ]


@pytest.mark.parametrize("topic, path, limit", _id_params())
def test_an_identifier_with_a_control_character_fails_both(topic: str, path: Path, limit: int) -> None:
    for value in ("a\nb", "tab\there", "del\x7f", "\x00"):
        body = _with(topic, path, value)
        assert not _schema_accepts(topic, body), value
        assert _reason(topic, body) is RejectReason.ABSURD_VALUE, value


@pytest.mark.parametrize("topic, path, limit", _id_params())
def test_an_identifier_is_bounded_in_utf8_bytes_which_the_schema_states_and_the_decoder_checks(topic: str, path: Path, limit: int) -> None:
    node = _property(load_schema(SCHEMA_FOR_TOPIC[topic]), path)
    assert f"at most {limit} bytes of UTF-8" in node["description"]
    assert _decoder_accepts(topic, _with(topic, path, "\u00e9" * (limit // 2)))  # two bytes each: at the limit
    assert _reason(topic, _with(topic, path, "\u00e9" * (limit // 2) + "x")) is RejectReason.ABSURD_VALUE


# -- timestamps ---------------------------------------------------------------------------------

# The schema is allowed to be stricter than the decoder (it cannot express the UTC range exactly,
# and datetime.fromisoformat accepts more than RFC 3339), but never more lenient.
TS_ACCEPTED = [
    "2026-11-25T10:00:00Z",
    "2026-11-25T10:00:00.5+01:00",
    "2026-11-25T10:00:00.123456-05:30",
    "2000-01-01T00:00:00Z",
    "2099-12-31T23:59:59.999Z",
]
TS_REJECTED = [
    ("2026-11-25T10:00:00", RejectReason.BAD_TIMESTAMP),  # no offset
    ("2026-11-25T10:00:00.250", RejectReason.BAD_TIMESTAMP),  # no offset
    ("2026-11-25", RejectReason.BAD_TIMESTAMP),
    ("25/11/2026 10:00", RejectReason.BAD_TIMESTAMP),
    ("2026-13-01T10:00:00Z", RejectReason.BAD_TIMESTAMP),
    ("1900-01-01T00:00:00Z", RejectReason.ABSURD_VALUE),
    ("1999-12-31T23:59:59.999Z", RejectReason.ABSURD_VALUE),
    ("2100-01-01T00:00:00Z", RejectReason.ABSURD_VALUE),
]


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("ts", TS_ACCEPTED)
def test_timestamp_accepted_by_both(topic: str, ts: str) -> None:
    body = _with(topic, ("ts",), ts)
    assert _schema_accepts(topic, body)
    assert _decoder_accepts(topic, body)


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("ts, reason", TS_REJECTED)
def test_timestamp_rejected_by_both(topic: str, ts: str, reason: RejectReason) -> None:
    body = _with(topic, ("ts",), ts)
    assert not _schema_accepts(topic, body)
    assert _reason(topic, body) is reason


# -- outputs ------------------------------------------------------------------------------------

NOW_MS = 1_795_600_812_345

TRIGGERS = [
    Trigger(
        trigger_id=trigger_id_for("u-1", "abandoned_cart", "e-1"),
        user_id="u-1",
        rule="abandoned_cart",
        ts_ms=1_795_597_200_250,
        channel="push",
        payload={"products": [{"product_id": "p-1", "quantity": 2}], "cart_value": 119.8},
        reason="2 items left in the cart for 30 minutes",
    ),
    Trigger(
        trigger_id=trigger_id_for("ü-2", "win_back", "e-9"),
        user_id="ü-2",
        rule="win_back",
        ts_ms=946_684_800_000,
        channel="email",
        payload={},
        reason="",
    ),
]

DEAD_LETTERS = [
    DeadLetter(
        source_topic="prod.clicks",
        partition=3,
        offset=12_345,
        key=b"u-1",
        value=b'{"oops"',
        reason=RejectReason.BAD_JSON.value,
        detail="not JSON: Expecting ':' delimiter",
    ),
    DeadLetter(
        source_topic="searches",
        partition=0,
        offset=0,
        key=None,
        value=None,
        reason=RejectReason.BAD_JSON.value,
        detail="empty message",
    ),
    DeadLetter(
        source_topic="purchases",
        partition=1,
        offset=7,
        key=b"\xff\xfe-not-utf8",
        value=b"\x00\x01\x02\xff",
        reason=RejectReason.KEY_MISMATCH.value,
        detail="message key is not user_id",
    ),
]


SUPPRESSIONS = [
    *(Suppression(trigger=TRIGGERS[0], reason=reason) for reason in SuppressionReason),
    Suppression(trigger=TRIGGERS[1], reason=SuppressionReason.HOLDOUT),
]

CONVERSIONS = [
    Conversion(
        conversion_id="0b7e2a4c-5d1f-5e8a-9c3b-2f6d8e1a4b70",
        user_id="u-1",
        rule="abandoned_cart",
        trigger_id=TRIGGERS[0].trigger_id,
        group=ConversionGroup.TREATED,
        order_id="o-1",
        value=123.8,
        ts_ms=1_795_600_800_250,
        trigger_ts_ms=TRIGGERS[0].ts_ms,
    ),
    Conversion(
        conversion_id="6f1c3e9a-2b4d-5a7e-8c1f-3d5b7a9e2c41",
        user_id="ü-2",
        rule="win_back",
        trigger_id=TRIGGERS[1].trigger_id,
        group=ConversionGroup.HOLDOUT,
        order_id="Bestellung-ß-7",
        value=0.0,
        ts_ms=TRIGGERS[1].ts_ms + 1,
        trigger_ts_ms=TRIGGERS[1].ts_ms,
    ),
]

ERASURES_DONE = [
    ErasureDone(event_id="forget-1", user_id="u-1", found=True, requested_ms=1_795_600_800_000, erased_ms=1_795_600_700_000),
    ErasureDone(event_id="forget-ü", user_id="ü-2", found=False, requested_ms=1_795_600_800_000, erased_ms=1_795_600_800_000),
]

OUTPUT_RECORDS: dict[str, list[Any]] = {
    "trigger": TRIGGERS,
    "suppression": SUPPRESSIONS,
    "conversion": CONVERSIONS,
    "dead_letter": DEAD_LETTERS,
    "erasure_done": ERASURES_DONE,
}


def _wire(record: Any) -> dict[str, Any]:
    """The record as a consumer reads it, after a trip through JSON."""
    if isinstance(record, DeadLetter):
        wire = record.to_wire(rejected_at_ms=NOW_MS)
    else:
        wire = record.to_wire(emitted_at_ms=NOW_MS)
    return json.loads(json.dumps(wire))


def _sample(name: str) -> dict[str, Any]:
    return _wire(OUTPUT_RECORDS[name][0])


def _errors(name: str, wire: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Where and why the schema rejects ``wire``, so a negative test can tell it failed for its own reason."""
    return [(tuple(error.absolute_path), error.message) for error in _validator(name).iter_errors(wire)]


def _output_params() -> list[Any]:
    return [
        pytest.param(name, record, id=f"{type(record).__name__}-{i}")
        for name in OUTPUT_SCHEMAS
        for i, record in enumerate(OUTPUT_RECORDS[name])
    ]


def _output_fields(keyword: str, value: str) -> list[Any]:
    return [
        pytest.param(name, field, id=f"{name}:{field}")
        for name in OUTPUT_SCHEMAS
        for field, node in load_schema(name)["properties"].items()
        if node.get(keyword) == value
    ]


def test_every_published_schema_is_tested() -> None:
    published = {
        entry.name.removesuffix(".schema.json")
        for entry in (files("schemas") / "json").iterdir()
        if entry.name.endswith(".schema.json")
    }
    assert published == set(ALL_SCHEMAS)


@pytest.mark.parametrize("name, record", _output_params())
def test_output_wire_form_matches_schema(name: str, record: Any) -> None:
    schema = load_schema(name)
    wire = _wire(record)
    _validator(name).validate(wire)
    assert set(wire) == set(schema["properties"]) == set(schema["required"])
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("name", OUTPUT_SCHEMAS)
def test_output_schemas_reject_unknown_properties(name: str) -> None:
    assert _errors(name, {**_sample(name), "surprise": 1}) == [
        ((), "Additional properties are not allowed ('surprise' was unexpected)")
    ]


@pytest.mark.parametrize(
    "name, field",
    [
        pytest.param(name, field, id=f"{name}:{field}")
        for name in OUTPUT_SCHEMAS
        for field in load_schema(name)["required"]
    ],
)
def test_output_schemas_reject_a_missing_field(name: str, field: str) -> None:
    wire = _sample(name)
    del wire[field]
    assert _errors(name, wire) == [((), f"'{field}' is a required property")]


def test_every_reject_reason_can_be_dead_lettered() -> None:
    validator = _validator("dead_letter")
    for reason in RejectReason:
        record = dataclasses.replace(DEAD_LETTERS[0], reason=reason.value)
        validator.validate(record.to_wire(rejected_at_ms=NOW_MS))


def test_suppression_reason_enum_matches_code() -> None:
    reason = load_schema("suppression")["properties"]["reason"]
    assert reason["enum"] == [member.value for member in SuppressionReason]


def test_conversion_group_enum_matches_code() -> None:
    group = load_schema("conversion")["properties"]["group"]
    assert group["enum"] == [member.value for member in ConversionGroup]


def test_samples_cover_every_suppression_reason_and_conversion_group() -> None:
    assert {suppression.reason for suppression in SUPPRESSIONS} == set(SuppressionReason)
    assert {conversion.group for conversion in CONVERSIONS} == set(ConversionGroup)


@pytest.mark.parametrize("reason", ["NO_CONSENT", "consent", "quiet_hours", "", None, 1])
def test_suppression_schema_rejects_an_unknown_reason(reason: Any) -> None:
    # A wrong type breaks both "type" and "enum": two errors, at the same place.
    assert {path for path, _ in _errors("suppression", {**_sample("suppression"), "reason": reason})} == {("reason",)}


@pytest.mark.parametrize("group", ["control", "Treated", "treatment", "", None, True])
def test_conversion_schema_rejects_an_unknown_group(group: Any) -> None:
    assert {path for path, _ in _errors("conversion", {**_sample("conversion"), "group": group})} == {("group",)}


# -- outputs: shared field formats --------------------------------------------------------------

TRIGGER_TS_PATTERN = load_schema("trigger")["properties"]["ts"]["pattern"]


@pytest.mark.parametrize("name, field", _output_fields("format", "date-time"))
def test_output_times_use_the_trigger_ts_pattern(name: str, field: str) -> None:
    assert load_schema(name)["properties"][field]["pattern"] == TRIGGER_TS_PATTERN


@pytest.mark.parametrize("name, field", _output_fields("format", "date-time"))
@pytest.mark.parametrize(
    "ts",
    [
        "2026-11-25T10:00:00Z",  # no milliseconds
        "2026-11-25T11:00:00.250+01:00",  # not UTC
        "2026-11-25T10:00:00.250",  # no offset
        "2026-11-25 10:00:00.250Z",
        "",
    ],
)
def test_output_times_must_be_utc_with_milliseconds(name: str, field: str, ts: str) -> None:
    assert [path for path, _ in _errors(name, {**_sample(name), field: ts})] == [(field,)]


@pytest.mark.parametrize("name, field", _output_fields("format", "uuid"))
@pytest.mark.parametrize(
    "bad_id",
    [
        "e-1",
        "",
        "5f1d7a529c1e4c0e8a536e7564676501",  # a UUID's digits without the hyphens
        "5f1d7a52-9c1e-4c0e-8a53-6e756467650",  # one digit short
    ],
)
def test_output_ids_must_be_uuids(name: str, field: str, bad_id: str) -> None:
    assert [path for path, _ in _errors(name, {**_sample(name), field: bad_id})] == [(field,)]


def test_output_ids_that_must_be_uuids() -> None:
    """Pins the fields the test above covers, so dropping a "uuid" format cannot pass unnoticed."""
    assert [tuple(param.values) for param in _output_fields("format", "uuid")] == [
        ("trigger", "trigger_id"),
        ("suppression", "trigger_id"),
        ("conversion", "conversion_id"),
        ("conversion", "trigger_id"),
    ]


# -- outputs: suppressions ----------------------------------------------------------------------


def test_suppression_trigger_is_described_by_the_trigger_schema() -> None:
    node = load_schema("suppression")["properties"]["trigger"]
    assert node["$ref"] == load_schema("trigger")["$id"]


@pytest.mark.parametrize("suppression", [pytest.param(s, id=f"Suppression-{i}") for i, s in enumerate(SUPPRESSIONS)])
def test_suppression_repeats_its_trigger(suppression: Suppression) -> None:
    """The descriptions promise the top-level fields equal the nested trigger's."""
    wire = _wire(suppression)
    assert wire["trigger"] == _wire(suppression.trigger)
    for field in ("trigger_id", "user_id", "rule", "ts"):
        assert wire[field] == wire["trigger"][field]
    assert wire["trigger"]["emitted_at"] == wire["emitted_at"]


def _broken_trigger(change: str) -> tuple[dict[str, Any], list[tuple[Path, str]]]:
    trigger = _sample("trigger")
    if change == "missing_channel":
        del trigger["channel"]
        return trigger, [(("trigger",), "'channel' is a required property")]
    if change == "unknown_property":
        trigger["surprise"] = 1
        return trigger, [(("trigger",), "Additional properties are not allowed ('surprise' was unexpected)")]
    if change == "bad_trigger_id":
        trigger["trigger_id"] = "e-1"
        return trigger, [(("trigger", "trigger_id"), "'e-1' is not a 'uuid'")]
    assert change == "payload_not_an_object"
    trigger["payload"] = []
    return trigger, [(("trigger", "payload"), "[] is not of type 'object'")]


@pytest.mark.parametrize("change", ["missing_channel", "unknown_property", "bad_trigger_id", "payload_not_an_object"])
def test_suppression_checks_its_trigger_against_the_trigger_schema(change: str) -> None:
    trigger, expected = _broken_trigger(change)
    assert not _validator("trigger").is_valid(trigger)
    assert _errors("suppression", {**_sample("suppression"), "trigger": trigger}) == expected


# -- outputs: conversions -----------------------------------------------------------------------


def test_conversion_value_limits_are_the_purchase_total_limits() -> None:
    """value is the purchase's total, so the schema admits exactly the totals the decoder lets in."""
    value = load_schema("conversion")["properties"]["value"]
    total = load_schema("purchase")["properties"]["total"]
    assert (value["minimum"], value["maximum"]) == (total["minimum"], total["maximum"]) == (0, MAX_ORDER_TOTAL)


@pytest.mark.parametrize(
    "value, accepted",
    [
        (0, True),
        (0.0, True),
        (MAX_ORDER_TOTAL, True),
        (-0.01, False),
        (math.nextafter(MAX_ORDER_TOTAL, math.inf), False),
        ("123.8", False),
        (True, False),
        (None, False),
    ],
)
def test_conversion_value_bounds(value: Any, accepted: bool) -> None:
    errors = _errors("conversion", {**_sample("conversion"), "value": value})
    assert [path for path, _ in errors] == ([] if accepted else [("value",)])


@pytest.mark.parametrize(
    "user_id, rule, cause",
    [("u-1", "abandoned_cart", "e-1"), ("ü-2", "win_back", "at_risk@1795597200000"), ("u3", "winter_sale", "winter_sale")],
)
def test_trigger_ids_are_name_based_uuid5s_and_never_change(user_id: str, rule: str, cause: str) -> None:
    """Consumers de-duplicate on these ids across releases: they are uuid5 of a fixed namespace."""
    namespace = uuid.UUID("5f1d7a52-9c1e-4c0e-8a53-6e7564676501")
    assert trigger_id_for(user_id, rule, cause) == str(uuid.uuid5(namespace, f"{user_id}\x1f{rule}\x1f{cause}"))
