"""The worker's producer: a processing step's messages, sent as one record batch per partition.

Faust's producer path builds a FutureMessage, a buffer entry and an asyncio future per message;
a catch-up sends about one changelog record per event besides the triggers, and that bookkeeping
cost more than deciding the triggers did. aiokafka's own batch interface (``create_batch`` and
``send_batch``, public API) takes records into a batch builder in C and gives one future per
batch, which is all a step needs: it waits for everything it sent before it goes on.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable

import aiokafka
from mode import Service

Record = tuple[str, int, bytes, "bytes | None"]
"""``(topic, partition, key, value)``; a value of None is a tombstone."""


class Sent:
    """One record batch on its way: its future resolves once the broker has it."""

    __slots__ = ("topic", "partition", "records", "future")

    def __init__(self, topic: str, partition: int, records: int, future: asyncio.Future[Any]) -> None:
        self.topic = topic
        self.partition = partition
        self.records = records
        self.future = future

    def last_offset(self) -> int:
        """The offset of the batch's last record; only once the future is done."""
        return int(self.future.result().offset) + self.records - 1

# Records a batch builder takes before it is sent: big enough for a catch-up's step, and well
# under a broker's message.max.bytes (1 MiB by default), which a record batch must fit in. A
# record larger than this goes alone in its own batch (every record is under 1 MB: see
# schemas/limits.py).
BATCH_BYTES = 256 * 1024


class OutputProducer(Service):
    """One aiokafka producer, started and stopped with the worker (a mode Service, as Faust's)."""

    def __init__(self, *, bootstrap_servers: list[str], client_id: str, security: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._security = security or {}  # agents/security.py: TLS and SASL, as every client has them
        self._producer: aiokafka.AIOKafkaProducer | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        self._producer = aiokafka.AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=self._client_id,
            acks="all",  # a step's outputs are durable before its state is, and its state before its commit
            linger_ms=0,  # batches are built by the step itself
            max_batch_size=BATCH_BYTES,
            max_request_size=4 * 1024 * 1024,  # a request carries several partitions' batches
            **self._security,
        )
        await self._producer.start()

    async def on_stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send(self, records: Iterable[Record]) -> list[Sent]:
        """Queue every record, one batch per topic partition in the order given, and return the
        batches, whose futures resolve once the broker has acknowledged each."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("the output producer is not started")
        by_partition: dict[tuple[str, int], list[tuple[bytes, bytes | None]]] = {}
        for topic, partition, key, value in records:
            by_partition.setdefault((topic, partition), []).append((key, value))
        sent: list[Sent] = []
        for (topic, partition), items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start the next
                    sent.append(Sent(topic, partition, batch.record_count(), await producer.send_batch(batch, topic, partition=partition)))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)  # the first record always fits
            sent.append(Sent(topic, partition, batch.record_count(), await producer.send_batch(batch, topic, partition=partition)))
        return sent
