"""The worker's Prometheus metrics, in their own registry so tests and workers never share one."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import importlib.metadata

import faust
import river
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from agents.dashboard import RecentTriggers

from schemas.compiled import BUILD

__all__ = ["CONTENT_TYPE", "Metrics"]

# The text exposition format. aiohttp refuses a charset inside content_type and adds its own.
CONTENT_TYPE = "text/plain; version=0.0.4"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Event time from a trigger to its message's first open: minutes to a day.
_OPEN_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0, 24 * 3600.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # What operators expect of any Python service: prometheus-client's own collectors of the
        # process (CPU, memory, open files), the interpreter and its garbage collector.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info("nudge_build", "What this worker runs", registry=self.registry).info(
            {"version": importlib.metadata.version("nudge"), "core": BUILD, "faust": faust.__version__, "river": river.__version__}
        )
        self.recent_triggers = RecentTriggers()  # for /dashboard: what a scrape does not carry
        self.users = Gauge("nudge_users", "Users held, by owned partition", ["partition"], registry=self.registry)
        self.pending_timers = Gauge(
            "nudge_pending_timers", "Timers queued to wake, by owned partition (an upper bound: a cancelled one leaves when due)", ["partition"], registry=self.registry
        )
        self.watermark_age = Gauge(
            "nudge_watermark_age_seconds", "Wall-clock time minus the partition's event-time clock, by owned partition", ["partition"], registry=self.registry
        )
        self.consumer_lag = Gauge(
            "nudge_consumer_lag", "Messages between the committed offset and the end of each owned input partition", ["topic", "partition"], registry=self.registry
        )
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
        # "variant" is the rule's A/B variant, "" for a rule without variants.
        self.triggers = Counter("nudge_triggers", "Triggers sent, by rule, the channel chosen and variant", ["rule", "channel", "variant"], registry=self.registry)
        self.suppressions = Counter(
            "nudge_suppressions",
            "Triggers a guardrail stopped, by rule, reason (expired, no_consent, bounced, unsubscribed, propensity, low_uplift, frequency_cap, holdout) and variant",
            ["rule", "reason", "variant"],
            registry=self.registry,
        )
        self.conversions = Counter(
            "nudge_conversions",
            "Purchases attributed to a rule's trigger (treated) or to its holdout record (holdout), by variant, and whether the message was clicked first",
            ["rule", "group", "variant", "clicked"],
            registry=self.registry,
        )
        self.engagements = Counter(
            "nudge_engagements",
            "What the senders reported about triggers' messages (delivered, opened, clicked, dismissed, bounced, unsubscribed, complained), "
            "by the trigger's rule, channel and variant",
            ["rule", "channel", "variant", "type"],
            registry=self.registry,
        )
        self.time_to_open = Histogram(
            "nudge_time_to_open_seconds",
            "Event time from a trigger to its message's first open, by rule, channel and variant",
            ["rule", "channel", "variant"],
            buckets=_OPEN_BUCKETS,
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

        # The online models (streams/learning.py), per partition this worker owns; "model" is
        # "propensity" or "uplift/<rule>/treated|holdout", never anything about a user.
        self.model_labels = Gauge(
            "nudge_model_labels", "Resolved labels a model has learned from (progressive validation: predicted first)", ["model", "partition"], registry=self.registry
        )
        self.model_roc_auc = Gauge(
            "nudge_model_roc_auc", "ROC AUC over the model's latest 1,000 resolved labels (River RollingROCAUC), since the worker started", ["model", "partition"], registry=self.registry
        )
        self.model_log_loss = Gauge("nudge_model_log_loss", "Mean log loss over every resolved label", ["model", "partition"], registry=self.registry)
        self.model_calibration_error = Gauge(
            "nudge_model_calibration_error",
            "Expected calibration error: over ten bins of predicted probability, the label-weighted gap between the mean prediction and the observed rate",
            ["model", "partition"],
            registry=self.registry,
        )
        self.model_drifts = Gauge(
            "nudge_model_drifts", "Drifts ADWIN detected in the model's error since the worker started", ["model", "partition"], registry=self.registry
        )

    def set_models(self, learners: Iterable[tuple[int, str, Any]]) -> None:
        """Replace the model gauges with the learners of the partitions owned now
        (``(partition, model, Learner)``), so a partition given up leaves no stale series."""
        gauges = (self.model_labels, self.model_roc_auc, self.model_log_loss, self.model_calibration_error, self.model_drifts)
        for gauge in gauges:
            gauge.clear()
        for partition, model, learner in learners:
            labels = (model, str(partition))
            quality = learner.quality
            self.model_labels.labels(*labels).set(learner.learned)
            self.model_drifts.labels(*labels).set(quality.drifts)
            for gauge, value in ((self.model_roc_auc, quality.roc_auc), (self.model_log_loss, quality.log_loss), (self.model_calibration_error, quality.calibration_error)):
                if value is not None:
                    gauge.labels(*labels).set(value)

    def set_segments(self, counts: Mapping[str, int]) -> None:
        """Replace the segment gauges, so a segment that emptied shows 0 and none goes stale."""
        for segment, users in counts.items():
            self.segment_users.labels(segment).set(users)

    def set_partitions(self, rows: Iterable[tuple[int, int, int, int | None]], *, wall_s: float) -> None:
        """Replace the per-partition gauges with ``(partition, users, pending timers, clock ms)``
        of the partitions owned now, so a partition given away leaves no stale line."""
        for gauge in (self.users, self.pending_timers, self.watermark_age):
            gauge.clear()
        for partition, users, timers, clock_ms in rows:
            label = str(partition)
            self.users.labels(label).set(users)
            self.pending_timers.labels(label).set(timers)
            if clock_ms is not None:
                self.watermark_age.labels(label).set(max(0.0, wall_s - clock_ms / 1000))

    def set_lag(self, lags: Iterable[tuple[str, int, int]]) -> None:
        """Replace the lag gauges with ``(topic, partition, messages behind)``."""
        self.consumer_lag.clear()
        for topic, partition, lag in lags:
            self.consumer_lag.labels(topic, str(partition)).set(lag)

    def render(self) -> bytes:
        return generate_latest(self.registry)
