"""The embedded broker and the admin helpers, against a real Tansu process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from agents.admin import admin_client, check_broker, ensure_topics, is_embedded_broker
from agents.broker import EmbeddedBroker, free_port
from agents.errors import BrokerUnavailable, NudgeError
from agents.settings import Settings
from agents.topics import TopicSpec, all_topics
from tests.integration.harness import REPO, wait_for

pytestmark = pytest.mark.integration


def _partition_counts(settings: Settings, names: list[str]) -> dict[str, int]:
    with admin_client(settings) as admin:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names) if t["error_code"] == 0}


def _kafka_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("kafka-io")]


def test_producer_and_consumer_round_trip_a_message(broker: EmbeddedBroker, settings: Settings) -> None:
    topic = settings.topic("round-trip")
    ensure_topics(settings, [TopicSpec(topic, 1)])

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    try:
        producer.send(topic, key=b"user-1", value=b'{"hello": "world"}').get(timeout=10)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        enable_auto_commit=False,
    )
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        received = []
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend(records)
    finally:
        consumer.close()

    assert [(r.key, r.value) for r in received] == [(b"user-1", b'{"hello": "world"}')]


def test_ensure_topics_creates_every_topic_with_its_partition_count(settings: Settings) -> None:
    specs = all_topics(settings)
    assert any(spec.compacted for spec in specs) and {spec.partitions for spec in specs} == {1, 2}

    ensure_topics(settings, specs)

    expected = {spec.name: spec.partitions for spec in specs}
    assert _partition_counts(settings, list(expected)) == expected


def test_ensure_topics_is_idempotent(settings: Settings) -> None:
    specs = [TopicSpec(settings.topic("a"), 3), TopicSpec(settings.topic("b"), 1, compacted=True)]
    ensure_topics(settings, specs)
    ensure_topics(settings, specs)
    ensure_topics(settings, specs[:1] + [TopicSpec(settings.topic("c"), 2)])

    assert _partition_counts(settings, [settings.topic(n) for n in "abc"]) == {
        settings.topic("a"): 3,
        settings.topic("b"): 1,
        settings.topic("c"): 2,
    }


def test_ensure_topics_rejects_a_topic_with_another_partition_count(settings: Settings) -> None:
    name = settings.topic("events")
    ensure_topics(settings, [TopicSpec(name, 2)])

    with pytest.raises(NudgeError) as caught:
        ensure_topics(settings, [TopicSpec(settings.topic("other"), 1), TopicSpec(name, 3)])

    message = str(caught.value)
    assert name in message and "has 2 partitions" in message and "expects 3" in message
    assert "\n" not in message
    assert not isinstance(caught.value, BrokerUnavailable)
    # Nothing is created when the existing topics are already wrong.
    assert _partition_counts(settings, [settings.topic("other")]) == {}


def test_the_embedded_broker_is_recognised(settings: Settings) -> None:
    assert is_embedded_broker(settings) is True
    check_broker(settings)


def test_an_unreachable_broker_fails_fast_with_one_line() -> None:
    port = free_port()  # nothing listens on it
    settings = Settings(broker=f"kafka://127.0.0.1:{port}")
    threads_before = len(_kafka_threads())

    for call in (check_broker, is_embedded_broker, lambda s: ensure_topics(s, all_topics(s))):
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable) as caught:
            call(settings)
        assert time.monotonic() - started < 10
        message = str(caught.value)
        assert message.startswith(f"cannot reach Kafka broker at 127.0.0.1:{port}")
        assert "nudge broker" in message and "\n" not in message

    # kafka-python's IO threads of the failed clients were shut down, not leaked.
    deadline = time.monotonic() + 2
    while len(_kafka_threads()) > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_kafka_threads()) <= threads_before


def test_stop_leaves_no_process_behind() -> None:
    embedded = EmbeddedBroker()
    with embedded:
        pid = embedded.pid
        assert pid is not None and embedded.running
        log_path = embedded.log_path
        assert log_path is not None and log_path.exists()
        check_broker(Settings(broker=embedded.url))

    assert not embedded.running and embedded.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not log_path.parent.exists()
    embedded.stop()  # idempotent


def test_urls_name_the_chosen_port() -> None:
    embedded = EmbeddedBroker(port=12345)
    assert embedded.url == "kafka://127.0.0.1:12345"
    assert embedded.bootstrap == "127.0.0.1:12345"
    assert Settings(broker=embedded.url).bootstrap_servers == [embedded.bootstrap]


def test_a_taken_port_is_reported(broker: EmbeddedBroker) -> None:
    with pytest.raises(BrokerUnavailable, match=f"port {broker.port} is already in use"):
        EmbeddedBroker(port=broker.port).start()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(BrokerUnavailable, match=f"port {port} is already in use"):
            EmbeddedBroker(port=port).start()


def test_a_port_taken_after_the_check_is_reported_too(broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tansu exits with status 0 when it cannot bind; the start must still fail clearly."""
    monkeypatch.setattr(EmbeddedBroker, "_check_port_free", lambda self: None)
    loser = EmbeddedBroker(port=broker.port)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=f"port {broker.port} is already in use"):
        loser.start()
    assert time.monotonic() - started < 10
    assert not loser.running
    check_broker(Settings(broker=broker.url))  # the first broker is unharmed


def test_a_listener_that_does_not_speak_kafka_fails_within_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        settings = Settings(broker=f"kafka://127.0.0.1:{port}")
        threads_before = len(_kafka_threads())

        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="cannot reach Kafka broker"):
            check_broker(settings, timeout_s=1)
        assert time.monotonic() - started < 5

    deadline = time.monotonic() + 2
    while len(_kafka_threads()) > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_kafka_threads()) <= threads_before, "the failed client's IO thread was leaked"


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_a_sigkilled_nudge_broker_takes_its_broker_process_and_port_with_it() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = subprocess.Popen([sys.executable, "-m", "agents.cli", "broker", "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _children(command.pid), timeout_s=30, what="the broker process")
        [tansu] = _children(command.pid)
        wait_for(lambda: _accepts(port), timeout_s=30, what="the broker's port")
        command.kill()  # SIGKILL: no clean-up of its own runs
        command.wait(10)
        wait_for(lambda: not Path(f"/proc/{tansu}").exists() or "Z" in Path(f"/proc/{tansu}/stat").read_text().split()[2], timeout_s=10, what="the broker process gone")
        wait_for(lambda: not _accepts(port), timeout_s=10, what="the port free")
    finally:
        if command.poll() is None:
            command.kill()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
