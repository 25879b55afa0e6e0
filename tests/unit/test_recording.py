"""Recordings: a Kafka message survives recording_line -> file -> read_recording unchanged, and a
line that cannot be a message is reported with its 1-based line number instead of stopping the read."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import orjson
import pytest

from agents.recording import BadLine, Recorded, open_recording, read_recording, recording_line
from builders import T0_MS
from streams.replay import Message
from tests.wire import click_value, purchase_value

CLICK = click_value("u1", T0_MS, "add_to_cart", "p1", 59.9, 2)
PURCHASE = purchase_value("u2", T0_MS + 1000, [("p1", 59.9, 2), ("p2", 5.0, 1)])
NOT_JSON_BYTES = b"\xff\xfe{oops, not json"


def read_one(line: str) -> Recorded | BadLine:
    [item] = list(read_recording([line]))
    return item


def test_a_recorded_message_comes_back_with_every_field():
    line = recording_line(topic="clicks", key=b"u1", raw=orjson.dumps(CLICK), partition=3, offset=41, ts_ms=T0_MS + 7)
    assert read_one(line) == Recorded(
        line_no=1,
        message=Message(topic="clicks", key=b"u1", value=orjson.dumps(CLICK), offset=41, timestamp_ms=T0_MS + 7),
    )


def test_a_message_without_key_partition_offset_or_ts_comes_back_with_none_and_the_line_offset():
    line = recording_line(topic="erasures", key=None, raw=b'{"user_id": "u1"}')
    assert orjson.loads(line) == {"topic": "erasures", "partition": None, "offset": None, "key": None, "ts": None, "value": {"user_id": "u1"}}
    item = read_one(line)
    assert isinstance(item, Recorded)
    assert (item.message.key, item.message.value, item.message.offset, item.message.timestamp_ms) == (None, b'{"user_id":"u1"}', 0, None)


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_a_file_round_trips_through_open_recording(tmp_path: Path, name: str):
    path = tmp_path / name
    written = [
        dict(topic="clicks", key=b"u1", raw=orjson.dumps(CLICK), partition=0, offset=0, ts_ms=T0_MS),
        dict(topic="purchases", key=b"u2", raw=orjson.dumps(PURCHASE), partition=2, offset=0, ts_ms=T0_MS + 1000),
        dict(topic="clicks", key=b"u1", raw=NOT_JSON_BYTES, partition=0, offset=1, ts_ms=T0_MS + 2000),
    ]
    with open_recording(path, "w") as sink:
        for fields in written:
            sink.write(recording_line(**fields) + "\n")

    compressed = path.read_bytes()[:2] == b"\x1f\x8b"
    assert compressed is name.endswith(".gz")
    if compressed:
        assert gzip.decompress(path.read_bytes()).count(b"\n") == 3

    with open_recording(path, "r") as source:
        items = list(read_recording(source))
    assert [type(item) for item in items] == [Recorded] * 3
    assert [item.line_no for item in items] == [1, 2, 3]
    assert [(m.topic, m.key, m.offset) for m in (item.message for item in items)] == [
        ("clicks", b"u1", 0),
        ("purchases", b"u2", 0),
        ("clicks", b"u1", 1),
    ]
    assert [item.message.timestamp_ms for item in items] == [T0_MS, T0_MS + 1000, T0_MS + 2000]
    assert [item.message.value for item in items] == [orjson.dumps(CLICK), orjson.dumps(PURCHASE), NOT_JSON_BYTES]


@pytest.mark.parametrize("raw", [NOT_JSON_BYTES, b"{oops", b"", b"\x00\x01\x02", '{"price": NaN}'.encode()])
def test_bytes_that_are_not_json_go_to_value_base64_and_come_back_as_they_were(raw: bytes):
    line = recording_line(topic="clicks", key=b"u1", raw=raw, partition=1, offset=9, ts_ms=5)
    body = orjson.loads(line)
    assert "value" not in body
    assert base64.b64decode(body["value_base64"]) == raw
    item = read_one(line)
    assert isinstance(item, Recorded)
    assert item.message.value == raw
    assert (item.message.offset, item.message.timestamp_ms) == (9, 5)


def test_value_base64_holding_json_keeps_its_exact_bytes():
    raw = b'{ "user_id" : "u1",  "price": 59.90 }'  # spacing and 59.90 would not survive re-encoding
    item = read_one(orjson.dumps({"topic": "clicks", "key": "u1", "value_base64": base64.b64encode(raw).decode()}).decode())
    assert isinstance(item, Recorded)
    assert item.message.value == raw


def test_lines_from_other_tools_need_only_topic_key_and_value():
    lines = [
        orjson.dumps({"topic": "clicks", "key": "u1", "value": CLICK}).decode(),
        "",
        orjson.dumps({"topic": "purchases", "key": "u2", "value": PURCHASE, "ts": "2026-11-25T09:00:00Z"}).decode(),
        orjson.dumps({"topic": "clicks", "key": None, "value": None}).decode(),
    ]
    items = list(read_recording(lines))
    assert items == [
        Recorded(1, Message("clicks", b"u1", orjson.dumps(CLICK), 0)),
        Recorded(3, Message("purchases", b"u2", orjson.dumps(PURCHASE), 2)),  # a ts that is not epoch ms is dropped
        Recorded(4, Message("clicks", None, b"null", 3)),  # the JSON value null, not a missing value
    ]


def test_bad_lines_are_reported_with_their_line_numbers_and_blank_lines_are_skipped():
    good = orjson.dumps({"topic": "clicks", "key": "u1", "value": CLICK}).decode()
    lines = [
        good,  # 1
        "{oops",  # 2
        "",  # 3
        "[1, 2, 3]",  # 4
        '"just a string"',  # 5
        '{"key": "u1", "value": {}}',  # 6
        '{"topic": "", "key": "u1", "value": {}}',  # 7
        '{"topic": "clicks", "key": 5, "value": {}}',  # 8
        "   \t",  # 9
        '{"topic": "clicks", "key": "u1"}',  # 10
        '{"topic": "clicks", "key": "u1", "value_base64": "not base64!"}',  # 11
        '{"topic": "clicks", "key": "u1", "value_base64": "e29vcHM"}',  # 12: padding missing
        '{"topic": "clicks", "key": "u1", "value_base64": 5}',  # 13
        good,  # 14
    ]
    items = list(read_recording(line + "\n" for line in lines))  # as a file yields them
    assert [(item.line_no, type(item).__name__) for item in items] == [
        (1, "Recorded"),
        (2, "BadLine"),
        (4, "BadLine"),
        (5, "BadLine"),
        (6, "BadLine"),
        (7, "BadLine"),
        (8, "BadLine"),
        (10, "BadLine"),
        (11, "BadLine"),
        (12, "BadLine"),
        (13, "BadLine"),
        (14, "Recorded"),
    ]
    reasons = {item.line_no: item.reason for item in items if isinstance(item, BadLine)}
    assert reasons[2].startswith("not JSON")
    assert reasons[4] == reasons[5] == "not a JSON object"
    assert reasons[6] == reasons[7] == "no 'topic'"
    assert "'key'" in reasons[8]
    assert "no 'value'" in reasons[10] and "no 'value'" in reasons[13]
    assert "not base64" in reasons[11] and "not base64" in reasons[12]
    assert items[-1].message.offset == 13  # line 14, blank lines counted


def test_a_value_comes_back_as_the_recording_writes_it_whatever_the_line_holds_besides():
    """Spacing and number spelling are kept, on the usual line and on one with odd extra fields."""
    spaced = '{ "user_id" : "u1",  "price": 59.90 }'
    usual = read_one('{"topic": "clicks", "key": "u1", "value": ' + spaced + "}")
    odd = read_one('{"topic": "clicks", "key": "u1", "offset": "seven", "ts": true, "value": ' + spaced + "}")
    assert isinstance(usual, Recorded) and isinstance(odd, Recorded)
    assert usual.message.value == odd.message.value == spaced.encode()
    assert (odd.message.offset, odd.message.timestamp_ms) == (0, None)


@pytest.mark.parametrize("depth", [33, 900, 1020, 3000])
def test_a_deeply_nested_value_is_recorded_in_base64_and_comes_back_exactly(depth: int):
    """Parsers recurse one level per bracket: such a value, written as JSON, could not be read back."""
    raw = b"[" * depth + b"]" * depth
    line = recording_line(topic="clicks", key=b"u1", raw=raw)
    assert '"value_base64"' in line
    assert read_one(line).message.value == raw


@pytest.mark.parametrize("depth", [1020, 3000])
def test_a_foreign_line_nested_too_deep_to_read_is_a_bad_line_not_a_crash(depth: int):
    line = '{"topic": "clicks", "key": "u1", "value": ' + "[" * depth + "]" * depth + "}"
    [item] = read_recording([line])
    assert isinstance(item, BadLine) and item.line_no == 1


def test_a_key_that_is_not_utf8_is_recorded_in_base64_and_comes_back_exactly():
    line = recording_line(topic="clicks", key=b"\xff\xfeu1", raw=b"{oops", ts_ms=5)
    assert '"key":null' in line and '"key_base64":"//51MQ=="' in line
    item = read_one(line)
    assert (item.message.key, item.message.value, item.message.timestamp_ms) == (b"\xff\xfeu1", b"{oops", 5)
