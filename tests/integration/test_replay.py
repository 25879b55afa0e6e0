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
import signal
import subprocess
import sys
import threading
from pathlib import Path

from kafka import KafkaAdminClient

from agents.admin import ensure_topics
from agents.forget import forget
from agents.generate import write_recording
from agents.record import RecordReport, record
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
    for message in sent:
        by_user.setdefault(message.key, []).append(parse_rfc3339(json.loads(message.value)["ts"])[0])
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


def _users_of(path: Path) -> list[tuple[str, str]]:
    """Each line's (topic, key)."""
    return [(line["topic"], line["key"]) for line in map(json.loads, path.read_text().splitlines())]


def test_record_scrub_leaves_out_every_message_of_a_user_who_asked_to_be_forgotten(settings: Settings, tmp_path: Path) -> None:
    """Recorded live: the erasure is sent only once the recorder has the user's messages, so it
    is the recording's last line and every earlier message of the user must go."""
    ensure_topics(settings, all_topics(settings))
    source = tmp_path / "source.jsonl"
    write_recording(source, users=10, count=200, seed=4, start_ms=START_MS, mean_gap_ms=100, partitions=settings.partitions)
    sent = _users_of(source)
    erased = sent[0][1]
    out = tmp_path / "scrubbed.jsonl"
    seen = [-1]
    reports: list[RecordReport] = []
    recorder = threading.Thread(
        target=lambda: reports.append(
            record(settings, topics=["clicks", "searches", "purchases", "consents", "erasures"], out=out, from_beginning=False,
                   duration_s=None, max_messages=len(sent) + 1, progress=lambda done, _total, _s: seen.__setitem__(0, done), scrub=True)
        )
    )  # fmt: skip
    recorder.start()
    wait_for(lambda: seen[0] >= 0, timeout_s=15, what="the recorder to start polling")
    replay_to_broker(source, settings, speed=None)
    wait_for(lambda: seen[0] >= len(sent), timeout_s=30, what="the recorder to take every message")
    forget(settings, erased)
    recorder.join(timeout=30)
    [report] = reports
    kept = _users_of(out)
    assert report.written == len(sent) + 1
    assert sorted(kept) == sorted(line for line in sent if line[1] != erased), "only the erased user's messages went"
    assert report.scrubbed is not None and report.scrubbed.removed == len(sent) + 1 - len(kept) and report.scrubbed.removed_users == {erased}
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == [], "the unscrubbed messages are not left behind"


def test_record_scrub_from_the_cli_stops_on_ctrl_c_and_keeps_the_scrubbed_recording(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings, all_topics(settings))
    source = tmp_path / "source.jsonl"
    write_recording(source, users=10, count=100, seed=5, start_ms=START_MS, mean_gap_ms=100, partitions=settings.partitions)
    replay_to_broker(source, settings, speed=None)
    erased = _users_of(source)[0][1]
    forget(settings, erased)
    out = tmp_path / "scrubbed.jsonl.gz"
    env = {**os.environ, "PYTHONPATH": str(REPO), **settings.to_environ()}
    refused = subprocess.run(
        [sys.executable, "-m", "agents.cli", "record", "--out", str(out), "--topics", "clicks", "--scrub", "--duration", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "needs the erasures topic" in refused.stderr and len(refused.stderr.splitlines()) == 1
    recorder = subprocess.Popen(
        [sys.executable, "-m", "agents.cli", "record", "--out", str(out), "--from-beginning", "--scrub"],
        cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert recorder.stderr is not None
    progress = recorder.stderr.readline()  # the first progress line: it has been polling for a while
    assert progress.startswith("record: 101 recorded"), progress
    recorder.send_signal(signal.SIGINT)
    _, rest = recorder.communicate(timeout=30)
    assert recorder.returncode == 0, rest
    assert "recorded 101 messages to" in rest and "erased users" in rest
    with gzip.open(out, "rt") as captured:
        kept = [(line["topic"], line["key"]) for line in map(json.loads, captured)]
    others = [line for line in _users_of(source) if line[1] != erased]
    assert sorted(line for line in kept if line[1] != erased) == sorted(others), "everyone else's messages are all there"
    assert ("erasures", erased) not in kept
