"""The Faust app: topics, the users table, the batch agent, the clock tick and the web views.

Thin glue: every decision is made by agents/pipeline.py and the core; this module moves bytes
between Kafka and the pipeline and carries out the pipeline's outcome in the order that makes
output at-least-once (see agents/pipeline.py).

Records reach the agent a fetch at a time (agents/batch_delivery.py) and a step's messages leave
as one record batch per partition (agents/output_producer.py): Faust's per-message path cost
several times what Nudge's own processing does. Faust still runs the app, the agent, the
changelogged tables and their recovery, the group's assignment and rebalancing, and the web views.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any, Iterator

import aiohttp
import faust
from faust.types import TP
from faust.web import Request, Response, View
from yarl import URL

from agents import codecs
from agents.batch_delivery import BatchTransport, RecordBatch, commit_offsets, committed_offset
from agents.dashboard import PAGE, snapshot
from agents.http_auth import CHALLENGE, authorized, bearer
from agents.metrics import CONTENT_TYPE, Metrics
from agents.output_producer import OutputProducer, Sent
from agents.records import decode_population, decode_record, encode_population, encode_record
from agents.tables import MemoryTable, RocksTable
from agents.pipeline import MAX_RECORDS_PER_STEP, Outcome, Pipeline
from agents.security import faust_credentials, kafka_client_security
from agents.settings import Settings
from agents.uplift_report import from_local, local_json, uplift_json
from agents.topics import (
    CONVERSIONS,
    DEAD_LETTERS,
    ERASURES_DONE,
    POPULATION_TABLE,
    SUPPRESSIONS,
    TRIGGERS,
    USERS_TABLE,
    changelog_topic,
    faust_app_id,
    input_topics,
)
from agents.embedded_compat import EmbeddedTransport
from streams import decisions
from streams.config import ProfileConfig
from streams.message import Message
from streams.partitioning import partition_for
from streams.rules.spec import RuleBook
from streams.segments import ALL_SEGMENTS, resolve_segment
from streams.uplift import total

log = logging.getLogger(__name__)

PEER_TIMEOUT = aiohttp.ClientTimeout(total=5)  # another worker's counts for /uplift; slower is a worker in trouble
TICK_INTERVAL_S = 0.25
# Offsets are committed at most this often (and at every rebalance and shutdown): a commit is a
# round trip to the group coordinator, and Kafka's own consumers commit every few seconds.
COMMIT_INTERVAL_S = 1.0
# Steps waiting for the agent: the fetcher runs this far ahead of processing, no further.
BATCHES_BUFFERED = 2


class NudgeApp(faust.App):
    """A Faust app whose consumer delivers the input topics a fetch at a time (batch_topics to
    deliver_batch), with the embedded broker's work-arounds when asked."""

    def __init__(self, *args: Any, embedded_broker: bool = False, **kwargs: Any) -> None:
        self._embedded_broker = embedded_broker
        self.batch_topics: frozenset[str] = frozenset()
        self.deliver_batch: Any = None
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        transport = EmbeddedTransport if self._embedded_broker else BatchTransport
        return transport(self.conf.broker_consumer, self)


def advertised_host(bind_host: str) -> str:
    """The host other workers use to forward table-routed requests here.

    A worker bound to every interface (as in a container) is reachable by its hostname, never
    by the wildcard address.

    >>> advertised_host("127.0.0.1")
    '127.0.0.1'
    >>> advertised_host("0.0.0.0") == socket.gethostname()
    True
    """
    return socket.gethostname() if bind_host in ("0.0.0.0", "::", "") else bind_host


def profile_config(settings: Settings) -> ProfileConfig:
    return ProfileConfig(
        interest_half_life_ms=settings.interest_half_life_s * 1000,
        consent_default=settings.consent_default == "granted",
    )


def build_app(settings: Settings, *, book: RuleBook, embedded_broker: bool) -> NudgeApp:
    """``embedded_broker`` switches on the work-arounds for Tansu's known defects, and only them."""
    codecs.register()
    app = NudgeApp(
        faust_app_id(settings),
        embedded_broker=embedded_broker,
        broker=settings.broker,
        store="rocksdb://" if settings.store == "rocksdb" else "memory://",
        autodiscover=False,
        datadir=str(settings.data_dir.resolve()),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_credentials=faust_credentials(settings),
        topic_allow_declare=True,
        # Faust's own pages list every table's keys and the cluster's layout: not for outside callers.
        web_router_enabled=False,
        web_tables_enabled=False,
        consumer_auto_offset_reset="earliest",
        # Real Kafka's smallest allowed session timeout; the embedded broker finishes a join only
        # after half of it, so a larger one would slow every start (../shared/BROKER.md).
        broker_session_timeout=6.0,
        broker_heartbeat_interval=2.0,
        broker_max_poll_records=MAX_RECORDS_PER_STEP,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_host=advertised_host(settings.web_host),
        table_standby_replicas=settings.standby_replicas,
        stream_wait_empty=False,
    )
    metrics = Metrics()
    names = input_topics(settings)
    logical_of = {name: logical for logical, name in names.items()}
    # Subscribed through the conductor, so Faust assigns their partitions (and the tables' with
    # them), but never consumed through it: the consumer hands their records over in batches.
    app.topics.add(app.topic(*names.values(), key_serializer="raw", value_serializer="raw"))
    app.batch_topics = frozenset(names.values())
    users = _table(app, settings, USERS_TABLE, codecs.USER_RECORD)
    # One record per partition, keyed by the partition number and written to that partition.
    populations = _table(app, settings, POPULATION_TABLE, codecs.POPULATION)
    config = profile_config(settings)
    users_changelog = changelog_topic(settings, USERS_TABLE)
    populations_changelog = changelog_topic(settings, POPULATION_TABLE)
    output_topic = {name: settings.topic(name) for name in (TRIGGERS, SUPPRESSIONS, CONVERSIONS, DEAD_LETTERS, ERASURES_DONE)}
    producer = app.service(
        OutputProducer(bootstrap_servers=settings.bootstrap_servers, client_id=f"{faust_app_id(settings)}-outputs", security=kafka_client_security(settings))
    )

    users_table = _view(
        settings,
        users.data,
        partition_of=lambda user_id, record: record.partition,
        locate=lambda user_id: partition_for(user_id.encode(), settings.partitions),
        encode=encode_record,
        decode=decode_record,
    )
    populations_table = _view(
        settings, populations.data, partition_of=lambda key, population: int(key), locate=int, encode=encode_population, decode=decode_population
    )

    def has_unread(topic: str, partition: int, last_seen: int | None) -> bool:
        tp = TP(names[topic], partition)
        try:
            highwater = app.consumer.highwater(tp)
        except Exception:  # not assigned (any more): nothing of it will come
            return False
        if highwater is None:
            return True
        if last_seen is None:
            # Nothing read since assignment: the consumer started at the committed offset.
            last_seen = (committed_offset(app.consumer, tp) or 0) - 1
        return last_seen + 1 < highwater

    pipeline = Pipeline(
        table=users_table,
        populations=populations_table,
        book=book,
        profile_config=config,
        metrics=metrics,
        has_unread=has_unread,
        idle_advance_ms=settings.idle_advance_ms,
        input_topics=list(names),
        max_future_skew_ms=settings.max_future_skew_s * 1000,
    )
    lock = asyncio.Lock()
    durable: list[Sent] = []  # changelog writes sent and not yet known durable
    committable: dict[TP, int] = {}  # offsets whose effects are sent, to commit once durable
    last_commit = [time.monotonic()]

    async def carry_out(outcome: Outcome) -> None:
        """Outputs first, acknowledged; then the changelog; the offsets commit once both are durable."""
        outputs = [(output_topic[out.topic], out.partition, out.key, out.value) for out in outcome.outputs]
        if outputs:
            await asyncio.gather(*(sent.future for sent in await producer.send(outputs)))
        state = [(users_changelog, partition, user_id.encode(), record) for partition, user_id, record in pipeline.user_writes(outcome)]
        state += [(populations_changelog, partition, str(partition).encode(), value) for partition, value in pipeline.population_writes(outcome)]
        if state:
            durable.extend(await producer.send(state))
        for (topic, partition), offset in outcome.next_offsets().items():
            tp = TP(names[topic], partition)
            if offset > committable.get(tp, -1):
                committable[tp] = offset
        observe = metrics.latency.observe
        now_ms = time.time() * 1000
        for _, message in outcome.done:
            if message.timestamp_ms is not None:
                observe(max(0.0, now_ms - message.timestamp_ms) / 1000)

    async def commit(*, only: set[TP] | None = None) -> None:
        """Commit what is durable: every changelog write sent so far first, then (for a table on
        disk) the records themselves and the changelog offset they reach, then the offsets."""
        if durable:
            pending = list(durable)
            durable.clear()
            await asyncio.gather(*(sent.future for sent in pending))
            users_table.flush()
            populations_table.flush()
            reached: dict[tuple[str, int], int] = {}
            for sent in pending:
                key = (sent.topic, sent.partition)
                reached[key] = max(reached.get(key, -1), sent.last_offset())
            for (topic, partition), offset in reached.items():
                table = users if topic == users_changelog else populations
                table.data.set_persisted_offset(TP(topic, partition), offset)
        assignment = app.consumer.assignment()
        offsets = {tp: offset for tp, offset in committable.items() if tp in assignment and (only is None or tp in only)}
        for tp in offsets:
            del committable[tp]
        offsets = {tp: offset for tp, offset in offsets.items() if offset > (committed_offset(app.consumer, tp) or 0)}
        await commit_offsets(app.consumer, offsets)
        last_commit[0] = time.monotonic()

    async def process(records: RecordBatch) -> None:
        started = time.perf_counter()
        batch = [
            (tp.partition, Message(logical_of[tp.topic], record.key, record.value, record.offset, record.timestamp if record.timestamp > 0 else None))
            for tp, tp_records in records.items()
            for record in tp_records
        ]
        async with lock:
            outcome = pipeline.take(batch, wall_s=time.time())
            apply_flow_control()
            await carry_out(outcome)
        metrics.batch_duration.observe(time.perf_counter() - started)

    def apply_flow_control() -> None:
        # Sets, not generators: Faust's resume_partitions iterates what it is given twice.
        pause, resume = pipeline.flow()
        if pause:
            app.consumer.pause_partitions({TP(names[topic], partition) for topic, partition in pause})
        if resume:
            app.consumer.resume_partitions({TP(names[topic], partition) for topic, partition in resume})

    batches = app.channel(maxsize=BATCHES_BUFFERED)

    async def deliver_batch(records: RecordBatch) -> None:
        await batches.send(value=records)

    app.deliver_batch = deliver_batch

    @app.agent(batches, name="process-events")
    async def process_events(stream: faust.StreamT) -> None:
        async for records in stream:
            await process(records)

    @app.timer(interval=TICK_INTERVAL_S)
    async def advance_idle_partitions() -> None:
        async with lock:
            outcome = pipeline.tick(wall_s=time.time())
            apply_flow_control()
            await carry_out(outcome)
            if committable and time.monotonic() - last_commit[0] >= COMMIT_INTERVAL_S:
                await commit()

    @app.on_partitions_revoked.connect
    async def commit_before_giving_up(sender: faust.App, revoked: set[TP], **kwargs: Any) -> None:
        """Finish the step under way and commit what it made durable while the partitions are
        still ours; what is still held is dropped and read again by their next owner."""
        async with lock:
            await commit(only=set(revoked))

    @app.on_before_shutdown.connect
    async def commit_at_shutdown(sender: faust.App, **kwargs: Any) -> None:
        """A clean stop commits what it made durable: a restart then reads nothing again."""
        async with lock:
            await commit()

    @users.on_recover
    async def own_recovered_partitions() -> None:
        active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in logical_of}
        async with lock:
            pipeline.assign(active, wall_s=time.time())
            apply_flow_control()

    token = settings.http_token

    class GuardedView(View):
        """A view that asks for the bearer token, when one is set (agents/http_auth.py)."""

        async def dispatch(self, request: Any) -> Any:
            if not authorized(request.headers.get("Authorization"), token):
                return self.json({"error": "this view needs Authorization: Bearer TOKEN (NUDGE_HTTP_TOKEN)"}, status=401, headers={"WWW-Authenticate": CHALLENGE})
            return await super().dispatch(request)

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Request) -> Response:
            counts = pipeline.segment_counts()
            metrics.set_segments({segment: counts[segment] for segment in ALL_SEGMENTS})
            metrics.set_models(pipeline.learners())
            metrics.set_partitions(pipeline.partition_state(), wall_s=time.time())
            metrics.set_lag(consumer_lag())
            return self.bytes(metrics.render(), content_type=CONTENT_TYPE)

    def consumer_lag() -> Iterator[tuple[str, int, int]]:
        """Per owned input partition: its end, as the consumer last saw it, minus the committed offset."""
        for partition in pipeline.partitions:
            for logical, name in names.items():
                tp = TP(name, partition)
                try:
                    highwater = app.consumer.highwater(tp)
                except Exception:  # not assigned (any more)
                    continue
                if highwater is not None:
                    yield logical, partition, max(0, highwater - (committed_offset(app.consumer, tp) or 0))

    @app.page("/dashboard")
    class DashboardView(View):
        """The live page: the page itself holds no data, so it needs no token (agents/dashboard.py)."""

        async def get(self, request: Request) -> Response:
            return self.html(PAGE)

    @app.page("/dashboard/data")
    class DashboardDataView(GuardedView):
        async def get(self, request: Request) -> Response:
            metrics.set_lag(consumer_lag())
            return self.json(snapshot(metrics.registry, metrics.recent_triggers))

    @app.page("/profiles/{user_id}")
    class ProfileView(GuardedView):
        """A user's live profile, served by whichever worker owns the user (Faust routes it)."""

        @app.table_route(table=users, match_info="user_id")
        async def get(self, request: Request, user_id: str) -> Response:
            record = users_table.get(user_id)
            if record is None:
                return self.json({"error": f"no profile for user {user_id!r}"}, status=404)
            state = record.state
            clock_ms = pipeline.clock_ms(record.partition)
            now_ms = state.profile.last_seen_ms if clock_ms is None else max(clock_ms, state.profile.last_seen_ms)
            view = state.profile.view(now_ms=now_ms, config=config)
            return self.json({**view, "pending_timers": decisions.timers_view(state)})

    @app.page("/profiles/{user_id}/decisions")
    class DecisionsView(GuardedView):
        """Why, and why not: the rules' latest decisions about the user (streams/decisions.py)."""

        @app.table_route(table=users, match_info="user_id")
        async def get(self, request: Request, user_id: str) -> Response:
            record = users_table.get(user_id)
            if record is None:
                return self.json({"error": f"no profile for user {user_id!r}"}, status=404)
            return self.json({"user_id": user_id, "decisions": decisions.view(record.state)})

    @app.page("/uplift")
    class UpliftView(GuardedView):
        """Uplift per rule over the whole app: this worker asks every worker that owns partitions
        for its counts (``?scope=local``, Faust's router says who owns what) and adds them up.
        A worker that does not answer leaves its partitions listed as missing."""

        async def get(self, request: Request) -> Response:
            if request.query.get("scope") == "local":
                return self.json(local_json(pipeline.outcomes(), partitions=pipeline.partitions))
            answers = [local_json(pipeline.outcomes(), partitions=pipeline.partitions)]
            own = URL(str(app.conf.canonical_url))
            for host in app.router.table_metadata(users.name):
                peer = URL(str(host))
                if (peer.host, peer.port) == (own.host, own.port):
                    continue
                try:
                    async with app.http_client.get(peer.with_path("/uplift").with_query(scope="local"), headers=bearer(token), timeout=PEER_TIMEOUT) as response:
                        if response.status == 200:
                            answers.append(await response.json())
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    log.warning("uplift: worker %s did not answer: %s", peer, exc)
            covered: set[int] = set()
            counts = []
            for answer in answers:
                partitions, outcomes = from_local(answer)
                if covered.isdisjoint(partitions):  # mid-rebalance, two workers may both claim one
                    covered.update(partitions)
                    counts.append(outcomes)
            return self.json(uplift_json(total(counts), partitions=sorted(covered), of=settings.partitions))

    @app.page("/segments/{name}/count")
    class SegmentCountView(GuardedView):
        """How many users of this worker's partitions are in a lifecycle stage or RFM segment."""

        async def get(self, request: Request, name: str) -> Response:
            segment = resolve_segment(name)
            if segment is None:
                return self.json({"error": f"no segment {name!r}", "segments": list(ALL_SEGMENTS)}, status=404)
            count = pipeline.segment_counts()[segment]
            return self.json({"segment": segment, "count": count, "partitions": pipeline.partitions})

    return app


def _view(settings: Settings, data: Any, *, partition_of: Any, locate: Any, encode: Any, decode: Any) -> Any:
    """How the pipeline reaches a table's data, by store (see agents/tables.py)."""
    if settings.store == "rocksdb":
        return RocksTable(data, partition_of=partition_of, locate=locate, encode=encode, decode=decode, capacity=settings.cache_users)
    return MemoryTable(data, partition_of=partition_of)


def _table(app: faust.App, settings: Settings, name: str, value_codec: str) -> Any:
    """A table whose changelog carries Nudge's own codecs.

    Faust derives a table's codecs from model types; Nudge's records are its own, so the
    changelog topic is declared here with them, before Faust builds one with JSON codecs.
    """
    table = app.Table(
        name,
        partitions=settings.partitions,
        changelog_topic=app.topic(
            changelog_topic(settings, name),
            key_serializer=codecs.USER_KEY,
            value_serializer=value_codec,
            partitions=settings.partitions,
            compacting=True,
            deleting=False,
            acks=False,
            internal=True,
            maxsize=131_072,
            allow_empty=True,
        ),
    )
    table.key_serializer = codecs.USER_KEY
    table.value_serializer = value_codec
    return table
