"""Pins the Faust and aiokafka internals agents/batch_delivery.py and agents/app.py lean on.

The worker replaces Faust's per-message fetch loop for its input topics and commits their offsets
itself. Each private name below is part of that; if an upgrade renames or reshapes one, this
fails here, with the name, instead of the worker failing in production.
"""

from __future__ import annotations

import inspect

import faust
from aiokafka import AIOKafkaProducer
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.consumer import ThreadDelegateConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from agents.batch_delivery import BatchConsumer, BatchTransport
from agents.embedded_compat import EmbeddedConsumer, EmbeddedTransport
from agents.pipeline import Outcome
from streams.message import Message


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_the_fetch_loop_this_worker_replaces_is_faust_s_drain_messages_called_by_its_fetcher():
    assert inspect.iscoroutinefunction(FaustConsumer._drain_messages)
    assert parameters(FaustConsumer._drain_messages) == ["self", "fetcher"]
    fetcher_source = inspect.getsource(faust.transport.consumer.Fetcher._fetcher.fun)  # a mode ServiceTask
    assert "consumer._drain_messages(self)" in fetcher_source


def test_the_internals_the_batch_loop_reads_are_where_it_expects_them():
    assert inspect.iscoroutinefunction(FaustConsumer._wait_next_records)
    assert parameters(FaustConsumer._wait_next_records) == ["self", "timeout"]
    # _wait_next_records returns the fetched record map and the active partitions, in that order.
    assert "return records, active_partitions" in inspect.getsource(FaustConsumer._wait_next_records)
    init = inspect.getsource(FaustConsumer.__init__)
    assert "self._committed_offset" in init
    assert FaustConsumer.flow_active is True
    assert inspect.iscoroutinefunction(FaustConsumer.perform_seek)
    assert parameters(faust_aiokafka.Consumer._to_message) == ["self", "tp", "record"]


def test_committing_goes_through_the_consumer_thread_as_faust_s_own_commits_do():
    assert inspect.iscoroutinefunction(ThreadDelegateConsumer._commit)
    assert parameters(ThreadDelegateConsumer._commit) == ["self", "offsets"]
    assert "self._committed_offset.update(committable_offsets)" in inspect.getsource(FaustConsumer._commit_offsets)


def test_every_transport_the_worker_uses_delivers_in_batches():
    assert BatchTransport.Consumer is BatchConsumer
    assert EmbeddedTransport.Consumer is EmbeddedConsumer and issubclass(EmbeddedConsumer, BatchConsumer)
    assert issubclass(BatchConsumer, faust_aiokafka.Consumer)


def test_revocation_signals_the_app_after_it_has_stopped_the_flow_and_before_the_rejoin():
    source = inspect.getsource(faust.App._on_partitions_revoked)
    assert source.index("consumer.stop_flow") < source.index("self.on_partitions_revoked.send")


def test_the_producer_s_batch_interface_is_aiokafka_s_public_one():
    assert parameters(AIOKafkaProducer.create_batch) == ["self"]
    assert parameters(AIOKafkaProducer.send_batch) == ["self", "batch", "topic", "partition"]


def test_a_step_commits_the_offset_after_the_last_message_it_applied_per_topic_partition():
    outcome = Outcome()
    outcome.done = [
        (0, Message("clicks", b"u", b"{}", 7)),
        (0, Message("clicks", b"u", b"{}", 9)),
        (0, Message("purchases", b"u", b"{}", 3)),
        (1, Message("clicks", b"u", b"{}", 0)),
    ]
    assert outcome.next_offsets() == {("clicks", 0): 10, ("purchases", 0): 4, ("clicks", 1): 1}


def test_faust_s_resume_partitions_reads_its_argument_twice_so_the_worker_passes_a_set():
    """A generator passed to it resumes nothing: the fetcher never asks for the partition again,
    and the worker waited forever for a topic it had paused itself."""
    source = inspect.getsource(FaustConsumer.resume_partitions)
    assert "tpset = ensure_TPset(tps)" in source and ".update(tps)" in source
    import agents.app

    assert "resume_partitions({TP(" in inspect.getsource(agents.app)


def test_records_fetched_for_a_partition_paused_while_the_fetch_was_under_way_are_delivered():
    """The worker pauses a topic partition that holds too much (flow control) while the consumer
    thread fetches. Faust's loop tests each record's partition against the active set that very
    pause changes, and drops it; the consumer's position is already past it: a silent loss."""
    assert "tp in active_partitions" in inspect.getsource(FaustConsumer.getmany)  # Faust's filter
    assert "in active" not in inspect.getsource(BatchConsumer._drain_messages)  # not ours
    assert "self._get_active_partitions().difference_update(tpset)" in inspect.getsource(FaustConsumer.pause_partitions)


def test_the_shutdown_signal_comes_once_the_fetcher_is_stopped_and_before_the_consumer_is():
    """The worker commits what it made durable on on_before_shutdown: no batch can arrive after
    it, and the consumer, one of the app's children, still runs (mode stops children after on_stop)."""
    source = inspect.getsource(faust.App.on_stop)
    assert source.index("self._stop_consumer()") < source.index("self.on_before_shutdown.send()")
    assert "await self._stop_fetcher()" in inspect.getsource(faust.App._stop_consumer)
