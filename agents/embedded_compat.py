"""Work-arounds for the embedded broker's known defects (../shared/BROKER.md), and only for it.

Short end offsets. Tansu answers ListOffsets(latest) with the base offset of the last record batch plus one, as if
that batch held one record (../shared/BROKER.md). Faust reads a changelog up to that answer
when it restores a table, so each partition would lose the tail of its last batch. Fetch's high
watermark is right on the same broker, so for every partition we fetch from the reported end
minus one (inside the last batch) and take the high watermark of that fetch. This costs one
fetch per changelog partition at recovery and keeps producer batching intact. It is switched on
only for the embedded broker; real Kafka keeps Faust's own path untouched.

Slow fetches. Tansu holds a fetch for its whole max wait even when data has arrived, and Faust
asks for 1.5 s, so every event would wait about 0.4 s on average before the worker saw it. A
short max wait brings that to tens of milliseconds; real Kafka answers as soon as data is there
and needs no such change.
"""

from __future__ import annotations

import asyncio
from typing import List, Mapping

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from agents.batch_delivery import BatchConsumer, BatchTransport

_FETCH_TIMEOUT_S = 10.0
FETCH_MAX_WAIT_MS = 50


async def true_end_offsets(bootstrap_servers: list[str], reported: Mapping[TP, int]) -> dict[TP, int]:
    """Replace each reported end offset by the high watermark a fetch inside the last batch sees."""
    ends = dict(reported)
    probe = {tp: end for tp, end in reported.items() if end}
    if not probe:
        return ends
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None, fetch_max_wait_ms=50
    )
    await consumer.start()
    try:
        partitions = [aiokafka.TopicPartition(tp.topic, tp.partition) for tp in probe]
        consumer.assign(partitions)
        for partition in partitions:
            consumer.seek(partition, probe[TP(partition.topic, partition.partition)] - 1)
        deadline = asyncio.get_running_loop().time() + _FETCH_TIMEOUT_S
        unknown = set(partitions)
        while unknown and asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(*unknown, timeout_ms=200)
            for partition in list(unknown):
                highwater = consumer.highwater(partition)
                if highwater is not None:
                    tp = TP(partition.topic, partition.partition)
                    ends[tp] = max(highwater, reported[tp])
                    unknown.discard(partition)
        if unknown:
            raise RuntimeError(f"no high watermark fetched for {sorted(map(str, unknown))} within {_FETCH_TIMEOUT_S} s")
    finally:
        await consumer.stop()
    return ends


class EmbeddedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Faust passes no option for it; the fetcher reads this when the consumer starts.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def _highwaters(self, partitions: List[TP]) -> Mapping[TP, int]:
        reported = await super()._highwaters(partitions)
        transport = self.transport
        servers = faust_aiokafka.server_list(transport.url, transport.default_port)
        return await true_end_offsets(servers, reported)


class EmbeddedConsumer(BatchConsumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return EmbeddedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class EmbeddedTransport(BatchTransport):
    Consumer = EmbeddedConsumer
