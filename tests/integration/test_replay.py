"""Replay is exact: a recording replayed offline and into a real worker gives the same outputs.

The recording is generated with a fixed seed. Offline, the core runs in-process; online, the
recording is produced into the embedded broker at full speed and a real worker processes it as
fast as it can.
The worker can only act on time that has passed for it, so both sides are compared on what
is due up to the recording's last event; the offline flush past it is the replay's own.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

from kafka import KafkaAdminClient

from agents.admin import ensure_topics
from agents.generate import write_recording
from agents.replay import replay_to_broker
from agents.settings import Settings
from agents.topics import all_topics
from schemas.timestamps import parse_rfc3339
from tests.integration.exactness import WITH_ERASURES, Comparison, all_committed, horizon_ms, live_outputs, offline_outputs
from tests.integration.harness import REPO, WorkerProcess, read_topic, wait_for

START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z


def test_offline_and_worker_replays_agree_exactly(settings: Settings, tmp_path: Path) -> None:
    """Through the tools a user runs: `nudge replay --offline` and `nudge replay --broker`."""
    recording = tmp_path / "shop.jsonl"
    write_recording(
        recording, users=300, count=4_000, seed=11, start_ms=START_MS, mean_gap_ms=1_000, partitions=settings.partitions, bad_fraction=0.01
    )
    offline = offline_outputs(recording, tmp_path / "offline-1.jsonl", settings.partitions)
    offline_outputs(recording, tmp_path / "offline-2.jsonl", settings.partitions)
    assert (tmp_path / "offline-1.jsonl").read_bytes() == (tmp_path / "offline-2.jsonl").read_bytes(), "replaying twice differs"
    horizon = horizon_ms(recording, settings.partitions)
    assert {topic for topic, _ in offline} == set(WITH_ERASURES), "the recording must exercise every output"
    assert len(Comparison.of(offline, [], horizon).expected) < len(offline), "the offline flush fires what is due after the horizon too"

    # The recording goes in first, then the worker reads it at full speed. A worker reading while
    # the producer still writes may find a topic's high watermark a fetch behind and take a later
    # click before an earlier purchase, as any live consumer could; that race is not replay's.
    ensure_topics(settings, all_topics(settings))
    report = replay_to_broker(recording, settings, speed=None)
    assert report.messages == 4_000
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    try:
        wait_for(lambda: all_committed(settings, report.messages), timeout_s=60, what="the replay taken and committed")
    finally:
        worker.stop()
    Comparison.of(offline, live_outputs(settings, WITH_ERASURES), horizon, topics=WITH_ERASURES).assert_same()


def test_the_cli_replays_a_recording_into_kafka_with_progress_lines(settings: Settings, tmp_path: Path) -> None:
    recording = tmp_path / "small.jsonl.gz"
    write_recording(recording, users=20, count=300, seed=2, start_ms=START_MS, mean_gap_ms=100, partitions=settings.partitions)
    env = {**os.environ, "PYTHONPATH": str(REPO), **settings.to_environ()}
    done = subprocess.run(
        [sys.executable, "-m", "agents.cli", "replay", str(recording), "--broker", settings.broker, "--speed", "100"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "replay: 300/300 sent (100%)" in done.stderr  # not a terminal: plain progress lines
    assert "replayed 300 messages" in done.stderr
    sent = read_topic(settings, settings.topic("clicks"), quiet_s=1.0)
    by_user: dict[bytes, list[int]] = {}
    for record in sent:
        by_user.setdefault(record.key, []).append(parse_rfc3339(json.loads(record.value)["ts"])[0])
    assert sent and all(times == sorted(times) for times in by_user.values()), "every user's clicks kept their order"


def test_record_captures_live_topics_without_a_consumer_group(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings, all_topics(settings))  # as a worker would have
    source = tmp_path / "source.jsonl"
    write_recording(source, users=10, count=200, seed=4, start_ms=START_MS, mean_gap_ms=100, partitions=settings.partitions, bad_fraction=0.05)
    replay_to_broker(source, settings, speed=None)
    out = tmp_path / "captured.jsonl.gz"
    env = {**os.environ, "PYTHONPATH": str(REPO), **settings.to_environ()}
    done = subprocess.run(
        [sys.executable, "-m", "agents.cli", "record", "--out", str(out), "--from-beginning", "--max-messages", "200"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with gzip.open(out, "rt") as captured:
        lines = [json.loads(line) for line in captured]
    assert len(lines) == 200
    assert {tuple(sorted(line)) for line in lines} <= {
        ("key", "offset", "partition", "topic", "ts", "value"),
        ("key", "offset", "partition", "topic", "ts", "value_base64"),  # the malformed ones, byte for byte
    }

    def content(line: dict) -> tuple:
        return line["topic"], line["key"], json.dumps(line.get("value"), sort_keys=True), line.get("value_base64")
    originals = [json.loads(line) for line in source.read_text().splitlines()]
    assert sorted(map(content, lines)) == sorted(map(content, originals)), "what was recorded is what was sent"
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        groups = admin.list_groups()
    finally:
        admin.close()
    assert not [group for group in groups if "record" in str(group)], f"the recorder joined a consumer group: {groups}"
