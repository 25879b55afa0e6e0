"""A worker's outputs against the offline replay's, for the tests that hold workers exact.

A recording is replayed offline, then produced into the broker (every line with its recorded
Kafka timestamp) before any worker starts, so no worker races its producer. Workers take all of
it, whatever happens to them on the way, and the test ends only when every input offset is
committed. Then each output topic is read back and compared with the offline replay's lines,
byte for byte: both write an output through schemas.outputs.encode_output, and only the wall
clock's fields (``emitted_at``, ``rejected_at``) are blanked on both sides. They are compared as
sets, so a redelivered output with the same id and bytes is one output, and one with the same id
and other bytes is a difference.

Only what is due by the horizon is compared: the earliest of the partitions' last event times. A
worker's clock cannot pass that until wall time does, while the offline flush goes past it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer

from agents.admin import ensure_topics
from agents.generate import write_recording
from agents.recording import open_recording, read_recording
from agents.replay import replay_offline
from agents.settings import Settings
from agents.topics import all_topics, input_topics
from schemas.limits import DEFAULT_MAX_FUTURE_SKEW_MS, MAX_OUTPUT_BYTES
from schemas.timestamps import parse_rfc3339
from streams.config import ProfileConfig
from streams.partitioning import partition_for
from streams.rules.loading import default_rulebook
from tests.integration.harness import committed_total, due_by, read_topic

START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z
COMPARED = ("triggers", "suppressions", "conversions", "dead-letters")
# Compared too where no worker is killed: a redelivered erasure, its user already gone, is
# confirmed a second time with found false (consumers de-duplicate on event_id).
WITH_ERASURES = (*COMPARED, "erasures-done")


def shop_recording(path: Path, *, partitions: int, count: int, seed: int, users: int = 300, mean_gap_ms: float = 1_000, pad: int = 0) -> list[str]:
    """A generated shop's lines. ``pad`` adds an unknown field of that many bytes to every valid
    event: a consumer then fetches fewer events per request, as with a shop's bigger events."""
    write_recording(path, users=users, count=count, seed=seed, start_ms=START_MS, mean_gap_ms=mean_gap_ms, partitions=partitions, bad_fraction=0.01)
    lines = path.read_text().splitlines()
    if pad:
        padded = [json.loads(line) for line in lines]
        for line in padded:
            if isinstance(line.get("value"), dict):
                line["value"]["pad"] = "x" * pad
        lines = [json.dumps(line, separators=(",", ":")) for line in padded]
    return lines


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def produce(recording: Path, settings: Settings) -> int:
    """Every line, in order, with its recorded Kafka timestamp; large enough for oversized ones."""
    ensure_topics(settings, all_topics(settings))
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, max_request_size=8_000_000, max_in_flight_requests_per_connection=1, linger_ms=5)
    sent = 0
    with open_recording(recording, "r") as source:
        for item in read_recording(source):
            message = item.message
            producer.send(settings.topic(message.topic), key=message.key, value=message.value, timestamp_ms=message.timestamp_ms)
            sent += 1
    producer.flush()
    producer.close()
    return sent


Output = tuple[str, bytes]
"""An output's logical topic and the bytes of its value."""


def offline_outputs(recording: Path, out: Path, partitions: int) -> list[Output]:
    """The offline replay's outputs: each line's value, cut out of the line as it was written."""
    report = replay_offline(recording, out, book=default_rulebook(), partitions=partitions, profile_config=ProfileConfig())
    assert report.messages and not report.bad_lines
    outputs = []
    for line in out.read_bytes().splitlines():
        parsed = orjson.loads(line)
        prefix = b'{"topic":' + orjson.dumps(parsed["topic"]) + b',"key":' + orjson.dumps(parsed["key"]) + b',"value":'
        assert line.startswith(prefix) and line.endswith(b"}")
        outputs.append((parsed["topic"], line[len(prefix) : -1]))
    return outputs


def horizon_ms(recording: Path, partitions: int) -> int:
    """The earliest of the partitions' last event times, counting only events a worker applies."""
    last: dict[int, int] = defaultdict(int)
    with open_recording(recording, "r") as source:
        for item in read_recording(source):
            message = item.message
            try:
                ts_ms = parse_rfc3339(json.loads(message.value or b"")["ts"])[0]
            except (ValueError, KeyError, TypeError, RecursionError):
                continue
            if message.timestamp_ms is not None and ts_ms - message.timestamp_ms > DEFAULT_MAX_FUTURE_SKEW_MS:
                continue
            number = partition_for(message.key or b"", partitions)
            last[number] = max(last[number], ts_ms)
    return min(last.values())


def live_outputs(settings: Settings, topics: tuple[str, ...] = COMPARED) -> list[Output]:
    """Every output the workers wrote, each checked against the bound on what a worker sends."""
    outputs = []
    for topic in topics:
        for record in read_topic(settings, settings.topic(topic), quiet_s=1.0):
            assert len(record.value) + len(record.key or b"") < MAX_OUTPUT_BYTES
            outputs.append((topic, record.value))
    return outputs


def values(outputs: list[Output], topic: str) -> list[dict[str, Any]]:
    return [json.loads(value) for name, value in outputs if name == topic]


_WALL_CLOCK = re.compile(rb'"(emitted_at|rejected_at)":"[^"]*"')
_PLACE = re.compile(rb'"partition":[0-9]+,"offset":[0-9]+')


def _comparable(outputs: list[Output], horizon: int, *, places: bool, topics: tuple[str, ...]) -> set[str]:
    found = set()
    for topic, value in outputs:
        if topic in topics and due_by(orjson.loads(value), horizon):
            value = _WALL_CLOCK.sub(rb'"\1":""', value)
            if not places and topic == "dead-letters":
                value = _PLACE.sub(b"", value, count=1)
            found.add(f"{topic} {value.decode()}")
    return found


def all_committed(settings: Settings, sent: int) -> bool:
    return committed_total(settings, list(input_topics(settings).values())) == sent


@dataclass
class Comparison:
    expected: set[str]  # the offline replay's outputs due by the horizon: topic and value bytes
    found: set[str]  # the workers'

    @classmethod
    def of(cls, offline: list[Output], live: list[Output], horizon: int, *, places: bool = True, topics: tuple[str, ...] = COMPARED) -> Comparison:
        """``places``: whether dead letters' partitions and offsets must match too, as they do
        when the recording's offsets are the ones its messages get when produced; ``topics``:
        the outputs compared."""
        return cls(
            expected=_comparable(offline, horizon, places=places, topics=topics), found=_comparable(live, horizon, places=places, topics=topics)
        )

    def assert_same(self, *, keep_in: Path | None = None) -> None:
        """``keep_in``: a directory where a failure leaves what differs, for the post-mortem."""
        only_live, only_offline = self.found - self.expected, self.expected - self.found
        if keep_in is not None and (only_live or only_offline):
            (keep_in / "only-live.txt").write_text("\n".join(sorted(only_live)) + "\n")
            (keep_in / "only-offline.txt").write_text("\n".join(sorted(only_offline)) + "\n")
        topics = {item.split(" ", 1)[0] for item in self.expected}
        assert {"triggers", "suppressions", "conversions"} <= topics, f"the recording must exercise every output, got {topics}"
        assert not only_live and not only_offline, (
            f"{len(only_live)} only live, {len(only_offline)} only offline, of {len(self.expected)}; "
            f"first only live: {sorted(only_live)[:1]}, first only offline: {sorted(only_offline)[:1]}"
        )
