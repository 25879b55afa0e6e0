"""Broker checks and topic creation with kafka-python, before any Faust worker starts.

Faust would auto-create missing topics with whatever partition count the broker picks, and
fail later with ``PartitionsMismatch``; creating them here, explicitly, avoids that. Every
kafka-python failure leaves this module as one :class:`~agents.errors.NudgeError` line.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError
from kafka.net.compat import KafkaNetClient

from agents.broker import TANSU_CLUSTER_ID
from agents.errors import BrokerUnavailable, NudgeError
from agents.security import kafka_client_security
from agents.settings import Settings
from agents.topics import TopicSpec

CHECK_TIMEOUT_S = 5.0

_NO_ERROR = 0
_UNKNOWN_TOPIC_OR_PARTITION = 3
_TOPIC_ALREADY_EXISTS = 36


def unreachable_message(settings: Settings) -> str:
    servers = ", ".join(settings.bootstrap_servers)
    return f"cannot reach Kafka broker at {servers} (is it running? start one with `nudge broker`)"


@contextmanager
def admin_client(settings: Settings, *, timeout_s: float = CHECK_TIMEOUT_S) -> Iterator[KafkaAdminClient]:
    """A connected admin client that is always closed, with kafka-python errors made one line.

    kafka-python starts its IO thread before it bootstraps and does not stop it when the
    bootstrap fails, so the network client is captured through the ``kafka_client`` factory
    and closed here; otherwise every failed check would leak a thread.
    """
    if not _any_accepts_tcp(settings.bootstrap_servers, timeout_s):
        raise BrokerUnavailable(unreachable_message(settings))
    timeout_ms = max(1, int(timeout_s * 1000))
    created: list[KafkaNetClient] = []

    def make_client(**configs: Any) -> KafkaNetClient:
        client = KafkaNetClient(**configs)
        created.append(client)
        return client

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id="nudge-admin",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
            reconnect_backoff_max_ms=500,
            kafka_client=make_client,
            **kafka_client_security(settings),
        )
    except (KafkaError, OSError):
        for client in created:
            _close_quietly(client)
        raise BrokerUnavailable(unreachable_message(settings)) from None
    try:
        yield admin
    except KafkaError as exc:
        servers = ", ".join(settings.bootstrap_servers)
        raise BrokerUnavailable(f"Kafka broker at {servers} failed a request: {_one_line(exc)}") from None
    finally:
        admin.close()


def check_broker(settings: Settings, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Fail in seconds with one line, instead of letting a worker retry an absent broker forever."""
    with admin_client(settings, timeout_s=timeout_s) as admin:
        admin.describe_cluster()


def is_embedded_broker(settings: Settings, *, timeout_s: float = CHECK_TIMEOUT_S) -> bool:
    """Whether the broker is Tansu, whose ListOffsets answers need Nudge's workaround.

    Tansu answers DescribeCluster with its cluster id; a broker that cannot answer it at all
    is older Kafka, not Tansu.
    """
    with admin_client(settings, timeout_s=timeout_s) as admin:
        try:
            cluster = admin.describe_cluster()
        except KafkaError:
            return False
    return cluster.get("cluster_id") == TANSU_CLUSTER_ID


def ensure_topics(
    settings: Settings,
    specs: list[TopicSpec],
    *,
    timeout_s: float = 15,
) -> None:
    """Create the missing topics and return once metadata shows all of them as specified.

    Safe to run from several workers at once: a topic another one created first counts as
    created, provided its partition count is the expected one.
    """
    if not specs:
        return
    wanted = {spec.name: spec for spec in specs}
    deadline = time.monotonic() + timeout_s
    with admin_client(settings, timeout_s=min(timeout_s, CHECK_TIMEOUT_S)) as admin:
        existing = _partition_counts(admin, list(wanted))
        _check_counts(wanted, existing)
        missing = [spec for name, spec in wanted.items() if name not in existing]
        if missing:
            _create(admin, missing, settings.replication_factor)
        while True:
            counts = _partition_counts(admin, list(wanted), require_leaders=True)
            _check_counts(wanted, counts)
            not_ready = sorted(name for name in wanted if name not in counts)
            if not not_ready:
                return
            if time.monotonic() >= deadline:
                raise BrokerUnavailable(
                    f"topics not ready after {timeout_s:g} s: {', '.join(not_ready)}"
                )
            time.sleep(0.1)


def _create(admin: KafkaAdminClient, specs: list[TopicSpec], replication_factor: int) -> None:
    request = {
        spec.name: {
            "num_partitions": spec.partitions,
            "replication_factor": replication_factor,
            "configs": {"cleanup.policy": "compact"} if spec.compacted else {},
        }
        for spec in specs
    }
    response = admin.create_topics(request, raise_errors=False)
    for result in response["topics"]:
        code = result["error_code"]
        if code not in (_NO_ERROR, _TOPIC_ALREADY_EXISTS):
            reason = result.get("error_message") or f"error code {code}"
            raise NudgeError(f"cannot create topic {result['name']!r}: {reason}")


def existing_topics(settings: Settings, names: list[str]) -> set[str]:
    """Which of ``names`` exist on the broker (a describe request never creates one)."""
    with admin_client(settings) as admin:
        return set(_partition_counts(admin, names))


def _partition_counts(
    admin: KafkaAdminClient, names: list[str], *, require_leaders: bool = False
) -> dict[str, int]:
    """Partition count of each topic that exists; with ``require_leaders``, only usable ones."""
    counts: dict[str, int] = {}
    for topic in admin.describe_topics(names):
        code = topic["error_code"]
        if code == _UNKNOWN_TOPIC_OR_PARTITION:
            continue
        if code != _NO_ERROR:
            if require_leaders:
                continue  # a topic still being created can answer e.g. LEADER_NOT_AVAILABLE
            raise NudgeError(f"cannot describe topic {topic['name']!r}: error code {code}")
        partitions = topic["partitions"]
        if require_leaders and any(p["error_code"] != _NO_ERROR or p["leader_id"] < 0 for p in partitions):
            continue
        counts[topic["name"]] = len(partitions)
    return counts


def _check_counts(wanted: dict[str, TopicSpec], counts: dict[str, int]) -> None:
    for name, actual in counts.items():
        expected = wanted[name].partitions
        if actual != expected:
            raise NudgeError(
                f"topic {name!r} has {actual} partitions but Nudge expects {expected}: "
                "delete the topic, or choose another NUDGE_TOPIC_PREFIX or NUDGE_PARTITIONS"
            )


def _any_accepts_tcp(servers: list[str], timeout_s: float) -> bool:
    """A refused connection is certain at once, while kafka-python would retry it until its
    bootstrap timeout: checking TCP first makes the common failure (no broker) instant."""
    per_server = max(0.1, timeout_s / max(1, len(servers)))
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=per_server):
                return True
        except (OSError, ValueError):
            continue
    return False


def _one_line(exc: BaseException) -> str:
    """kafka-python messages can embed whole request dumps; keep the first line, shortened."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _close_quietly(client: KafkaNetClient) -> None:
    try:
        client.close()
    except Exception:  # noqa: BLE001 - cleanup after a failure that is already being reported
        pass
