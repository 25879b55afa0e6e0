"""Recordings: Kafka messages as JSON Lines (gzip when the file name ends in ``.gz``).

One message per line: ``{"topic", "partition", "offset", "key", "ts", "value"}``, where ``topic``
is the logical name (no prefix), ``ts`` the Kafka timestamp in epoch milliseconds and ``value``
the message's JSON. A message whose bytes were not JSON keeps them in ``value_base64`` instead,
so malformed input can be recorded and replayed too. Lines from other tools need only
``topic``, ``key`` and ``value``.
"""

from __future__ import annotations

import base64
import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator

import orjson

from streams.replay import NOT_JSON, Message


_ABSENT = object()


@dataclass(slots=True)  # not frozen: one is built per line
class Recorded:
    line_no: int
    message: Message
    ts_ms: int | None  # the recorded Kafka timestamp, for pacing a replay


@dataclass(frozen=True, slots=True)
class BadLine:
    line_no: int
    reason: str


def open_recording(path: Path, mode: str) -> IO[str]:
    """``mode`` is "r" or "w"; a ``.gz`` name means gzip, written without a time stamp or file
    name in its header, so the same content gives the same bytes."""
    if path.suffix != ".gz":
        return open(path, mode, encoding="utf-8")
    if mode == "r":
        return gzip.open(path, "rt", encoding="utf-8")
    compressed = gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), mtime=0)
    compressed.myfileobj = compressed.fileobj  # so closing it closes the file, as when gzip opens it itself
    return io.TextIOWrapper(compressed, encoding="utf-8")


def recording_line(
    *, topic: str, key: bytes | None, raw: bytes | None, partition: int | None = None, offset: int | None = None, ts_ms: int | None = None
) -> str:
    """
    >>> recording_line(topic="clicks", key=b"u1", raw=b'{"a": 1}', partition=0, offset=7, ts_ms=5)
    '{"topic":"clicks","partition":0,"offset":7,"key":"u1","ts":5,"value":{"a":1}}'
    >>> recording_line(topic="clicks", key=b"u1", raw=b"{oops")
    '{"topic":"clicks","partition":null,"offset":null,"key":"u1","ts":null,"value_base64":"e29vcHM="}'
    """
    body: dict[str, object] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": None if key is None else key.decode("utf-8", "replace"),
        "ts": ts_ms,
    }
    if raw is None:
        body["value_base64"] = None  # a message with no value at all (a tombstone)
        return orjson.dumps(body).decode()
    try:
        body["value"] = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body["value_base64"] = base64.b64encode(raw or b"").decode("ascii")
    return orjson.dumps(body).decode()


def read_recording(lines: Iterable[str]) -> Iterator[Recorded | BadLine]:
    """Every line as a message, or as a bad line with its number and what is wrong with it."""
    for line_no, line in enumerate(lines, start=1):
        try:
            body = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if line.strip():  # blank lines are skipped; checked only here, as stripping copies the line
                yield BadLine(line_no, f"not JSON: {exc}")
            continue
        if type(body) is not dict:
            yield BadLine(line_no, "not a JSON object")
            continue
        topic = body.get("topic")
        key = body.get("key")
        value = body.get("value", _ABSENT)
        if type(topic) is str and topic and type(key) is str and value is not _ABSENT:
            offset = body.get("offset")  # the common line, checked in a few tests
            if type(offset) is not int:
                offset = line_no - 1
            ts_ms = body.get("ts")
            yield Recorded(line_no, Message(topic, key.encode(), value, None, offset), ts_ms if type(ts_ms) is int else None)
            continue
        parsed = _message(body, line_no)
        yield parsed if isinstance(parsed, BadLine) else Recorded(line_no, parsed, _int_or_none(body.get("ts")))


def _message(body: dict, line_no: int) -> Message | BadLine:
    topic = body.get("topic")
    if not isinstance(topic, str) or not topic:
        return BadLine(line_no, "no 'topic'")
    key = body.get("key")
    if key is not None and not isinstance(key, str):
        return BadLine(line_no, "'key' must be a string or null")
    if "value" in body:
        value = body["value"]
        raw = None  # the value's compact JSON, made only where bytes are needed
    elif "value_base64" in body and body["value_base64"] is None:
        raw, value = None, NOT_JSON
    elif isinstance(body.get("value_base64"), str):
        try:
            raw = base64.b64decode(body["value_base64"], validate=True)
        except ValueError:
            return BadLine(line_no, "'value_base64' is not base64")
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = NOT_JSON
    else:
        return BadLine(line_no, "no 'value' (or 'value_base64')")
    offset = _int_or_none(body.get("offset"))
    return Message(topic=topic, key=None if key is None else key.encode(), value=value, raw=raw, offset=line_no - 1 if offset is None else offset)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
