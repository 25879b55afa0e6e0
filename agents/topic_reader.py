"""Reading whole topics from the tools, outside any consumer group: ``tail``, ``record`` and
``forget --wait`` assign themselves every partition, so the workers never notice them."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kafka import KafkaConsumer, TopicPartition

from agents.errors import SettingsError


def assign_whole(consumer: KafkaConsumer, names: Iterable[str], *, from_beginning: bool, missing: Callable[[str], str]) -> list[TopicPartition]:
    """Assign every partition of each topic, placed at its start or at its end (resolved now, not
    at the first poll, so nothing written from here on can slip past). A topic that does not
    exist is one line, in the words ``missing`` gives it."""
    assigned: list[TopicPartition] = []
    for name in names:
        partitions = consumer.partitions_for_topic(name)
        if not partitions:
            raise SettingsError(missing(name))
        assigned += [TopicPartition(name, partition) for partition in sorted(partitions)]
    consumer.assign(assigned)
    if from_beginning:
        consumer.seek_to_beginning(*assigned)
    else:
        consumer.seek_to_end(*assigned)
    for partition in assigned:
        consumer.position(partition)
    return assigned
