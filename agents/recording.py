"""Recordings: Kafka messages as JSON Lines (gzip when the file name ends in ``.gz``).

One message per line: ``{"topic", "partition", "offset", "key", "ts", "value"}``, where ``topic``
is the logical name (no prefix), ``ts`` the Kafka timestamp in epoch milliseconds and ``value``
the message's JSON. A message whose bytes were not JSON keeps them in ``value_base64`` instead,
and a key that is not UTF-8 is kept in ``key_base64``, so malformed input can be recorded and
replayed too, byte for byte. Lines from other tools need only
``topic``, ``key`` and ``value``.
"""

from __future__ import annotations

import base64
import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Iterable, Iterator

import msgspec
import orjson

from schemas.limits import MAX_JSON_DEPTH
from schemas.nesting import nests_deeper_than
from streams.message import Message, Recorded  # in the core, compiled: one is built per line


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
    return io.TextIOWrapper(_gzip_sink(path), encoding="utf-8")


def open_sink(path: Path) -> io.BufferedIOBase:
    """``open_recording(path, "w")`` for bytes: for writers whose lines already are UTF-8 JSON."""
    return _gzip_sink(path) if path.suffix == ".gz" else open(path, "wb")


class _GzipSink(gzip.GzipFile):
    """A gzip file written with no name and no time in its header, so the same lines give the
    same bytes; closing it closes the file it writes to, as when gzip opens that itself."""

    def __init__(self, path: Path) -> None:
        self._raw = open(path, "wb")
        super().__init__(filename="", mode="wb", fileobj=self._raw, mtime=0)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def _gzip_sink(path: Path) -> gzip.GzipFile:
    return _GzipSink(path)


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
        "key": None,
        "ts": ts_ms,
    }
    if key is not None:
        try:
            body["key"] = key.decode("utf-8")
        except UnicodeDecodeError:
            body["key_base64"] = base64.b64encode(key).decode("ascii")
    if raw is None:
        body["value_base64"] = None  # a message with no value at all (a tombstone)
        return orjson.dumps(body).decode()
    try:
        if nests_deeper_than(raw, MAX_JSON_DEPTH):
            raise ValueError("nested too deep to read back")  # kept exactly in base64, as malformed input is
        body["value"] = orjson.loads(raw)
    except ValueError:  # orjson.JSONDecodeError is one
        body["value_base64"] = base64.b64encode(raw).decode("ascii")
    return orjson.dumps(body).decode()


class _Line(msgspec.Struct):
    """The usual line, parsed in one pass with its value left as the JSON text it is."""

    topic: Annotated[str, msgspec.Meta(min_length=1)]
    value: msgspec.Raw
    key: str | None = None
    key_base64: str | None = None
    offset: int | None = None
    ts: int | None = None


class _ValueOnly(msgspec.Struct):
    value: msgspec.Raw


_LINE = msgspec.json.Decoder(_Line)
_VALUE_ONLY = msgspec.json.Decoder(_ValueOnly)


def read_recording(lines: Iterable[str]) -> Iterator[Recorded | BadLine]:
    """Every line as a message, or as a bad line with its number and what is wrong with it.

    A message's value is the JSON text of the line's ``value`` as the recording writes it (so a
    replay produces what was recorded), or the bytes of its ``value_base64``.
    """
    for line_no, line in enumerate(lines, start=1):
        try:
            parsed = _LINE.decode(line)
        except (msgspec.MsgspecError, ValueError, RecursionError):  # RecursionError: a value nested very deep
            slow = _read_line(line, line_no)
            if slow is not None:
                yield slow
            continue
        if parsed.key_base64 is not None:  # a key that is not UTF-8: rare, so the careful path
            slow = _read_line(line, line_no)
            if slow is not None:
                yield slow
            continue
        key = None if parsed.key is None else parsed.key.encode()
        yield _recorded(line_no, parsed.topic, key, bytes(parsed.value), parsed.offset, parsed.ts)


def _read_line(line: str, line_no: int) -> Recorded | BadLine | None:
    """A line that is not the usual shape: the reason it is bad, or the message it holds after all."""
    try:
        body = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return BadLine(line_no, f"not JSON: {exc}") if line.strip() else None  # blank lines are skipped
    if not isinstance(body, dict):
        return BadLine(line_no, "not a JSON object")
    topic = body.get("topic")
    if not isinstance(topic, str) or not topic:
        return BadLine(line_no, "no 'topic'")
    text_key = body.get("key")
    if text_key is not None and not isinstance(text_key, str):
        return BadLine(line_no, "'key' must be a string or null")
    key = None if text_key is None else text_key.encode()
    if isinstance(body.get("key_base64"), str):
        try:
            key = base64.b64decode(body["key_base64"], validate=True)
        except ValueError:
            return BadLine(line_no, "'key_base64' is not base64")
    value: bytes | None
    if "value" in body:
        try:
            value = bytes(_VALUE_ONLY.decode(line).value)
        except RecursionError:  # `nudge record` writes such a value in value_base64, exactly
            return BadLine(line_no, "'value' is nested too deep to read; write it as 'value_base64'")
    elif "value_base64" in body and body["value_base64"] is None:
        value = None
    elif isinstance(body.get("value_base64"), str):
        try:
            value = base64.b64decode(body["value_base64"], validate=True)
        except ValueError:
            return BadLine(line_no, "'value_base64' is not base64")
    else:
        return BadLine(line_no, "no 'value' (or 'value_base64')")
    return _recorded(line_no, topic, key, value, _int_or_none(body.get("offset")), _int_or_none(body.get("ts")))


def _recorded(line_no: int, topic: str, key: bytes | None, value: bytes | None, offset: int | None, ts_ms: int | None) -> Recorded:
    """A line's message; without a recorded offset, its place in the file stands in for one."""
    message = Message(topic, key, value, line_no - 1 if offset is None else offset, ts_ms)
    return Recorded(line_no, message)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
