"""The Quix Streams application Nudge is measured against: a per-user count and one output per event.

The five input topics are concatenated into one dataframe, so each user has one count across
all of them, kept in Quix's state store (RocksDB, with its changelog topic), and Quix aligns the
topics by timestamp as Nudge's synchronizer does. Per event it parses the JSON, updates the count
and sends one JSON output. It runs as ``python -m bench.quix_peer`` (see :mod:`bench.peer_process`
for its arguments), with the group and fetch timings the embedded broker needs.
"""

from __future__ import annotations

from typing import Any, Sequence

from agents.topics import TopicSpec
from bench.peer_process import ProgressPipe, peer_arguments
from bench.reading import FETCH_MAX_WAIT_MS, HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS

CONSUMER_GROUP = "peers-quix"
OUTPUT = f"{CONSUMER_GROUP}-out"
# Kafka's default retention (7 days), which a Kafka broker would report for these topics.
KAFKA_DEFAULT_RETENTION_MS = str(7 * 24 * 3600 * 1000)
# Quix's buffered poll (for concatenated topics) asks for 10,000 messages at a time and waits
# out this timeout when fewer are left: at its default 1 s, the last few thousand events of a
# finite backlog wait seconds for nothing, which times the backlog's end, not the reader.
POLL_TIMEOUT_S = 0.1


def topic_specs(partitions: int) -> list[TopicSpec]:
    """The output topic, for creating before the app starts: Quix would create it with one
    partition. Its changelog topic it creates itself, with the input topics' partition count."""
    return [TopicSpec(OUTPUT, partitions)]


def main(argv: Sequence[str] | None = None) -> None:
    # Imported here: Quix Streams comes with the `bench` extra, while `make test` imports every
    # bench module for its doctests without it.
    from quixstreams import Application
    from quixstreams.models.topics import TopicConfig

    args = peer_arguments("A Quix Streams app: per-user count in its state store, one JSON output per event.").parse_args(argv)
    progress = ProgressPipe(args.progress_fd, events=args.events)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=CONSUMER_GROUP,
        auto_offset_reset="earliest",
        consumer_extra_config={
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
            "fetch.wait.max.ms": FETCH_MAX_WAIT_MS,
        },
        state_dir=args.data_dir,
        consumer_poll_timeout=POLL_TIMEOUT_S,
        loglevel="WARNING",
    )
    frames = []
    for name in args.input:
        topic = app.topic(name, key_deserializer="str", value_deserializer="json")
        # The embedded broker reports no retention.ms for a topic, and Quix derives its changelog
        # topic's config from the inputs' retention, failing without one.
        config = topic.broker_config
        topic.broker_config = TopicConfig(
            num_partitions=config.num_partitions,
            replication_factor=config.replication_factor,
            extra_config={"retention.ms": KAFKA_DEFAULT_RETENTION_MS, **config.extra_config},
        )
        frames.append(app.dataframe(topic))
    events = frames[0]
    for frame in frames[1:]:
        events = events.concat(frame)

    def count(event: dict[str, Any], state: Any) -> dict[str, Any]:
        total = state.get("count", 0) + 1
        state.set("count", total)
        return {"user_id": event["user_id"], "count": total}

    def sent(output: dict[str, Any]) -> None:
        if progress.tick():
            app.stop()

    output = app.topic(OUTPUT, key_serializer="str", value_serializer="json")
    events.apply(count, stateful=True).to_topic(output).update(sent)
    app.run()


if __name__ == "__main__":
    main()
