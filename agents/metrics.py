"""The worker's Prometheus metrics, in their own registry so tests and workers never share one."""

from __future__ import annotations

from typing import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

# The text exposition format. aiohttp refuses a charset inside content_type and adds its own.
CONTENT_TYPE = "text/plain; version=0.0.4"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "nudge_events", "Input messages taken, valid or not, by logical topic", ["topic"], registry=self.registry
        )
        self.dead_letters = Counter(
            "nudge_dead_letters", "Input messages rejected to dead-letters, by reason", ["reason"], registry=self.registry
        )
        self.duplicates = Counter(
            "nudge_redelivered_events",
            "Events skipped because their effect was already in the users table (redelivery after a restart)",
            registry=self.registry,
        )
        self.triggers = Counter("nudge_triggers", "Triggers sent, by rule", ["rule"], registry=self.registry)
        self.suppressions = Counter(
            "nudge_suppressions",
            "Triggers a guardrail stopped, by rule and reason (no_consent, holdout, frequency_cap, expired)",
            ["rule", "reason"],
            registry=self.registry,
        )
        self.conversions = Counter(
            "nudge_conversions",
            "Purchases attributed to a rule's trigger (treated) or to its holdout record (holdout)",
            ["rule", "group"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nudge_processing_latency_seconds",
            "Wall time from an input message's Kafka timestamp until its effects were handed to the producer",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_duration = Histogram(
            "nudge_batch_duration_seconds",
            "Time to process one batch, including the wait for its triggers to be acknowledged",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.partition_clock = Gauge(
            "nudge_partition_clock_seconds",
            "Event-time clock of each owned partition (epoch seconds)",
            ["partition"],
            registry=self.registry,
        )
        self.waiting_events = Gauge(
            "nudge_waiting_events",
            "Events held for timestamp synchronization, waiting for another topic to catch up",
            registry=self.registry,
        )
        self.sync_stalls = Counter(
            "nudge_sync_stalls",
            "Times a partition waited the longest allowed for a topic that had unread data and delivered none, by topic",
            ["topic"],
            registry=self.registry,
        )
        self.sync_forced = Counter(
            "nudge_sync_forced_releases",
            "Events released while a topic still held unread data: after a stall, at the wall clock's pace (stall), "
            "or past the most a partition holds (lookahead)",
            ["cause"],
            registry=self.registry,
        )
        self.oversized = Counter(
            "nudge_oversized",
            "Records and outputs over their size bound, not written (bounds hold by construction: a non-zero count is a bug)",
            ["what"],
            registry=self.registry,
        )
        self.erasures = Counter(
            "nudge_erasures", "Erasure requests applied (right to be forgotten)", registry=self.registry
        )
        self.segment_users = Gauge(
            "nudge_segment_users",
            "Users of this worker's partitions per lifecycle stage and RFM segment (lifecycle:<stage>, rfm:<segment>)",
            ["segment"],
            registry=self.registry,
        )

    def set_segments(self, counts: Mapping[str, int]) -> None:
        """Replace the segment gauges, so a segment that emptied shows 0 and none goes stale."""
        for segment, users in counts.items():
            self.segment_users.labels(segment).set(users)

    def render(self) -> bytes:
        return generate_latest(self.registry)
