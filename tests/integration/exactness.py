"""A worker's outputs against the offline replay's, for the tests that hold workers exact.

A recording is replayed offline, then produced into the broker (every line with its recorded
Kafka timestamp) before any worker starts, so no worker races its producer. Workers take all of
it, whatever happens to them on the way, and the test ends only when every input offset is
committed. Then each output topic is read back and compared with the offline replay's lines:
as sets of canonical forms, so a redelivered output with the same id and payload is one output,
and one with the same id and another payload is a difference.

Only what is due by the horizon is compared: the earliest of the partitions' last event times. A
worker's clock cannot pass that until wall time does, while the offline flush goes past it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from tests.integration.harness import canonical, committed_total, due_by, read_topic

START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z
COMPARED = ("triggers", "suppressions", "conversions", "dead-letters")


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


def offline_outputs(recording: Path, out: Path, partitions: int) -> list[tuple[str, dict[str, Any]]]:
    report = replay_offline(recording, out, book=default_rulebook(), partitions=partitions, profile_config=ProfileConfig())
    assert report.messages and not report.bad_lines
    return [(line["topic"], line["value"]) for line in map(json.loads, out.read_text().splitlines())]


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


def live_outputs(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """Every output the workers wrote, each checked against the bound on what a worker sends."""
    outputs = []
    for topic in COMPARED:
        for record in read_topic(settings, settings.topic(topic), quiet_s=1.0):
            assert len(record.value) + len(record.key or b"") < MAX_OUTPUT_BYTES
            outputs.append((topic, json.loads(record.value)))
    return outputs


def all_committed(settings: Settings, sent: int) -> bool:
    return committed_total(settings, list(input_topics(settings).values())) == sent


@dataclass
class Comparison:
    expected: set[str]  # the offline replay's outputs due by the horizon, canonical
    found: set[str]  # the workers'

    @classmethod
    def of(cls, offline: list[tuple[str, dict[str, Any]]], live: list[tuple[str, dict[str, Any]]], horizon: int) -> Comparison:
        return cls(
            expected={canonical(topic, value) for topic, value in offline if due_by(value, horizon)},
            found={canonical(topic, value) for topic, value in live if due_by(value, horizon)},
        )

    def assert_same(self, *, keep_in: Path | None = None) -> None:
        """``keep_in``: a directory where a failure leaves what differs, for the post-mortem."""
        only_live, only_offline = self.found - self.expected, self.expected - self.found
        if keep_in is not None and (only_live or only_offline):
            (keep_in / "only-live.jsonl").write_text("\n".join(sorted(only_live)) + "\n")
            (keep_in / "only-offline.jsonl").write_text("\n".join(sorted(only_offline)) + "\n")
        topics = {json.loads(item)[0] for item in self.expected}
        assert {"triggers", "suppressions", "conversions"} <= topics, f"the recording must exercise every output, got {topics}"
        assert not only_live and not only_offline, (
            f"{len(only_live)} only live, {len(only_offline)} only offline, of {len(self.expected)}; "
            f"first only live: {sorted(only_live)[:1]}, first only offline: {sorted(only_offline)[:1]}"
        )
