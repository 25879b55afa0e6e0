"""Whole fetched batches from Kafka to the pipeline, and offsets committed by the pipeline.

Faust delivers one message at a time: for each record it builds a Message, tracks it in a weak
set, routes it through the conductor to a channel queue, wraps it in an Event for the stream,
and later counts its acknowledgement into per-offset lists from which the commit is derived.
Profiled on a catch-up, that machinery (and the per-message producer futures beside it) took
most of a worker's CPU, several times what Nudge's own processing took. So for Nudge's input
topics, and only for them, this module hands over each fetch's records as they come, grouped by
partition, and the pipeline commits their offsets itself once their effects are durable.
Everything else Faust consumes (table changelogs during recovery) keeps Faust's own path.

This is the one place where Faust's consumer is bent; it leans on these internals of
faust-streaming 0.15.3, each pinned by tests/unit/test_batch_delivery.py:
- ``Consumer._drain_messages(fetcher)``, the fetcher's loop, which this class replaces;
- ``Consumer._wait_next_records(timeout)``, which returns ``(records, active_partitions)``;
- ``flow_active``, ``perform_seek()`` and ``callback``, as Faust's own ``getmany`` and loop use
  them;
- ``Consumer._commit(offsets)`` and ``Consumer._committed_offset``, to commit and to remember.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

RecordBatch = dict[TP, list[Any]]
"""One fetch's records of the input topics: aiokafka ConsumerRecords per topic partition, in
offset order."""

DeliverBatch = Callable[[RecordBatch], Awaitable[None]]


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, delivering the app's ``batch_topics`` a fetch at a time to its
    ``deliver_batch``; a Nudge app sets both before the worker starts."""

    async def _drain_messages(self, fetcher: Any) -> None:  # the fetcher service's loop
        app: Any = self.app
        batch_topics: frozenset[str] = app.batch_topics
        deliver: DeliverBatch = app.deliver_batch
        callback = self.callback
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        while not (consumer_stopped() or fetcher_stopped()):
            records, _ = await self._wait_next_records(1.0)
            await self.sleep(0)  # as Faust's loop: never hold the event loop across fetches
            if not records or self.should_stop:
                continue
            if not self.flow_active:
                # A rebalance is under way: what was fetched may predate a seek; fetch again
                # from the committed offsets once it is over, as Faust's own getmany does.
                await self.perform_seek()
                continue
            generation = app.consumer_generation_id
            batch: RecordBatch = {}
            for tp, tp_records in records.items():
                # Every record fetched is delivered, even of a partition paused since: Faust's own
                # loop drops those (the active set it tests is the one a pause changes, while the
                # fetch is under way), and the consumer's position has already moved past them, so
                # they were lost. A rebalance shows in the generation, tested below.
                if not tp_records:
                    continue
                if tp.topic in batch_topics:
                    batch[tp] = tp_records
                    continue
                for record in tp_records:  # a changelog during recovery: Faust's path, one by one
                    if app.consumer_generation_id != generation or not self.flow_active:
                        break
                    await callback(self._to_message(tp, record))
            if batch and app.consumer_generation_id == generation and self.flow_active:
                await deliver(batch)


async def commit_offsets(consumer: Any, offsets: Mapping[TP, int]) -> bool:
    """Commit ``offsets`` (each the next offset to read) for the consumer's group, and remember
    them as Faust does after its own commits."""
    if not offsets:
        return True
    committed = await consumer._commit(dict(offsets))
    if committed:
        consumer._committed_offset.update(offsets)
    return bool(committed)


def committed_offset(consumer: Any, tp: TP) -> int | None:
    """The offset the group last committed for ``tp``, as the consumer knows it."""
    return consumer._committed_offset.get(tp)


class BatchTransport(faust_aiokafka.Transport):
    Consumer = BatchConsumer
