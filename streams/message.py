"""An input message as Kafka gives it, whoever reads it: a worker's consumer or a recording."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)  # not frozen: one is built per message, and frozen fields cost a setattr each
class Message:
    """One input message: what a worker reads from Kafka, or a recording holds of it."""

    topic: str  # logical input topic
    key: bytes | None
    value: bytes | None  # the message's bytes; None: no value at all (a tombstone)
    offset: int  # its offset in its topic partition (in a recording without offsets, the line number)
    timestamp_ms: int | None = None  # its Kafka timestamp; None: none was given

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(self, topic: str, key: bytes | None, value: bytes | None, offset: int, timestamp_ms: int | None = None) -> None:
        self.topic = topic
        self.key = key
        self.value = value
        self.offset = offset
        self.timestamp_ms = timestamp_ms


@dataclass(slots=True)
class Recorded:
    """A message as a recording holds it (agents/recording.py reads them)."""

    line_no: int
    message: Message

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(self, line_no: int, message: Message) -> None:
        self.line_no = line_no
        self.message = message
