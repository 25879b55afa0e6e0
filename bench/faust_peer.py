"""The Faust agent Nudge is measured against: the one-event-at-a-time agent Faust's guide teaches.

Per event it parses the JSON, adds one to the user's count in a table and awaits one send of a
JSON output, which is the least a Faust app that keeps per-user state and emits something can
do. Nudge runs on the same Faust, but takes events in batches and does not wait for each send;
this peer shows what that design is worth. It runs as ``python -m bench.faust_peer`` (see
:mod:`bench.peer_process` for its arguments), with the settings the embedded broker needs.
"""

from __future__ import annotations

from typing import Any, Sequence

import faust

from agents.topics import TopicSpec
from bench.peer_process import ProgressPipe, peer_arguments
from bench.reading import HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS

APP_ID = "peers-faust"  # also its consumer group
TABLE = "counts"
OUTPUT = f"{APP_ID}-out"


def topic_specs(partitions: int) -> list[TopicSpec]:
    """Every topic the agent writes, for creating before it starts: the embedded broker would
    auto-create them with another partition count, and Faust then fails with ``PartitionsMismatch``."""
    return [
        TopicSpec(OUTPUT, partitions),
        TopicSpec(f"{APP_ID}-{TABLE}-changelog", partitions, compacted=True),
        TopicSpec(f"{APP_ID}-__assignor-__leader", 1),
    ]


def build_app(*, bootstrap: str, inputs: Sequence[str], partitions: int, data_dir: str, progress: ProgressPipe) -> faust.App:
    app = faust.App(
        APP_ID,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        topic_partitions=partitions,
        broker_session_timeout=SESSION_TIMEOUT_MS / 1000,
        broker_heartbeat_interval=HEARTBEAT_INTERVAL_MS / 1000,
        datadir=data_dir,
        web_enabled=False,
    )
    counts = app.Table(TABLE, default=int)
    output = app.topic(OUTPUT, key_type=bytes, key_serializer="raw", value_serializer="json")

    @app.agent(app.topic(*inputs, key_type=bytes, key_serializer="raw", value_serializer="json"))
    async def count(stream: faust.StreamT[Any]) -> None:
        async for user_id, event in stream.items():
            counts[user_id] += 1
            await output.send(key=user_id, value={"user_id": event["user_id"], "count": counts[user_id]})
            progress.tick()

    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = peer_arguments("A one-event-at-a-time Faust agent: table update and awaited send per event.")
    parser.add_argument("--partitions", type=int, required=True, help="of its table and output topic")
    args = parser.parse_args(argv)
    progress = ProgressPipe(args.progress_fd, events=args.events)
    app = build_app(
        bootstrap=args.bootstrap, inputs=args.input, partitions=args.partitions, data_dir=str(args.data_dir), progress=progress
    )
    faust.Worker(app, loglevel="warning").execute_from_commandline()


if __name__ == "__main__":
    main()
