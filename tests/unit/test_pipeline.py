"""The worker's Faust-free processing: bytes in, outputs and table writes out, no broker.

The table is a plain dict, ``has_unread`` is a switchboard the test flips, and every call gets
its wall time explicitly, so idle advance and the synchronization timeout are exact.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from builders import T0_MS, cart_book
from agents.metrics import Metrics
from agents.pipeline import MAX_HELD_EVENTS, MAX_SYNC_WAIT_S, PAUSE_ABOVE, RESUME_BELOW, Incoming, Outcome, Pipeline
from agents.tables import MemoryTable
from agents.records import UserRecord, decode_population, encode_population
from schemas.limits import MAX_KEY_BYTES, MAX_MESSAGE_BYTES, MAX_OUTPUT_BYTES
from schemas.events import EngagementType, InputTopic
from schemas.timestamps import format_rfc3339
from streams.config import ProfileConfig
from streams.message import Message
from streams.population import Population
from streams.responses import engagement_value
from streams.rules.spec import RuleBook
from tests.wire import click_value, erasure_value, purchase_value

TOPICS = [topic.value for topic in InputTopic]
DELAY_MS = 5_000  # short, so wall-clock advance reaches it in a few (fake) seconds
CONFIG = cart_book(DELAY_MS)
WALL_S = 1_795_597_200.0  # exactly representable, so wall differences are exact in float


class Unread:
    """``has_unread`` the test controls: the (topic, partition) pairs with data not yet given."""

    def __init__(self) -> None:
        self.pending: set[tuple[str, int]] = set()
        self.asked: list[tuple[str, int, int | None]] = []

    def __call__(self, topic: str, partition: int, last_offset: int | None) -> bool:
        self.asked.append((topic, partition, last_offset))
        return (topic, partition) in self.pending


def make_pipeline(table: dict[str, UserRecord] | None = None, *, idle_advance_ms: int = 1000, config: RuleBook = CONFIG):
    table = {} if table is None else table
    metrics = Metrics()
    unread = Unread()
    pipeline = Pipeline(
        table=MemoryTable(table, partition_of=lambda user_id, record: record.partition),
        populations=MemoryTable({}, partition_of=lambda key, population: int(key)),
        book=config,
        profile_config=ProfileConfig(),
        metrics=metrics,
        has_unread=unread,
        idle_advance_ms=idle_advance_ms,
        input_topics=TOPICS,
    )
    return pipeline, table, metrics, unread


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


# --- wire-format builders ---------------------------------------------------------------------


def click_bytes(user: str, ts_ms: int, action: str = "add_to_cart", product: str = "p1", price: float = 10.0, quantity: int = 1) -> bytes:
    return json.dumps(click_value(user, ts_ms, action, product, price, quantity)).encode()


def search_bytes(user: str, ts_ms: int) -> bytes:
    return json.dumps({"event_id": f"{user}-s-{ts_ms}", "user_id": user, "ts": format_rfc3339(ts_ms), "query": "red shoes"}).encode()


def purchase_bytes(user: str, ts_ms: int, product: str = "p1", price: float = 10.0, quantity: int = 1) -> bytes:
    return json.dumps(purchase_value(user, ts_ms, [(product, price, quantity)], event_id=f"{user}-buy-{ts_ms}")).encode()


def msg(topic: str, offset: int, value: bytes | None, *, user: str = "u1", partition: int = 0, key: bytes | None = None) -> Incoming:
    return partition, Message(topic, user.encode() if key is None else key, value, offset, int(WALL_S * 1000))


def ticking(pipeline: Pipeline, *, since_s: float, until_s: float) -> list[Outcome]:
    """The worker's timer: a tick every 0.25 s of wall time after ``since_s``, up to ``until_s``."""
    outcomes = []
    wall_s = since_s
    while wall_s + 0.25 <= until_s + 1e-9:
        wall_s += 0.25
        outcomes.append(pipeline.tick(wall_s=wall_s))
    return outcomes


def done_ids(outcome: Outcome) -> list[tuple[str, int]]:
    return [(m.topic, m.offset) for _, m in outcome.done]


def triggers_of(outcome: Outcome) -> list[dict[str, Any]]:
    return [json.loads(out.value) for out in outcome.outputs if out.topic == "triggers"]


# --- valid events -------------------------------------------------------------------------------


def test_valid_events_change_records_with_partition_and_per_topic_offsets():
    pipeline, table, metrics, _ = make_pipeline()
    batch = [
        msg("clicks", 7, click_bytes("u1", T0_MS), partition=3),
        msg("searches", 2, search_bytes("u1", T0_MS + 1000), partition=3),
        msg("clicks", 4, click_bytes("u2", T0_MS + 2000, action="view"), user="u2", partition=1),
    ]
    outcome = pipeline.take(batch, wall_s=WALL_S)

    assert set(outcome.changed) == {"u1", "u2"}
    u1 = outcome.changed["u1"]
    assert u1 is table["u1"]
    assert u1.partition == 3
    assert u1.offsets == {"clicks": 7, "searches": 2}
    assert u1.state.profile.counts == {"add_to_cart": 1, "search": 1}
    assert set(u1.state.timers) == {"abandoned_cart"}
    assert table["u2"].partition == 1
    assert table["u2"].offsets == {"clicks": 4}
    assert sorted(done_ids(outcome)) == [("clicks", 4), ("clicks", 7), ("searches", 2)]
    assert outcome.outputs == []
    assert pipeline.partitions == [1, 3]
    assert sample(metrics, "nudge_events_total", topic="clicks") == 2
    assert sample(metrics, "nudge_events_total", topic="searches") == 1
    assert sample(metrics, "nudge_partition_clock_seconds", partition="3") == (T0_MS + 1000) / 1000


def test_a_later_batch_only_reports_the_users_it_changed():
    pipeline, table, _, _ = make_pipeline()
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS))], wall_s=WALL_S)
    outcome = pipeline.take([msg("clicks", 1, click_bytes("u2", T0_MS + 10), user="u2")], wall_s=WALL_S)
    assert set(outcome.changed) == {"u2"}
    assert set(table) == {"u1", "u2"}


# --- redelivery -----------------------------------------------------------------------------------


def test_redelivered_messages_are_skipped_counted_and_do_not_change_counts():
    pipeline, table, metrics, _ = make_pipeline()
    first = [
        msg("clicks", 0, click_bytes("u1", T0_MS, product="p1")),
        msg("clicks", 1, click_bytes("u1", T0_MS + 1000, product="p2")),
    ]
    pipeline.take(first, wall_s=WALL_S)
    before = table["u1"].state.profile.to_dict()

    # A restart redelivers from the last commit: offsets 0 and 1 again, then a new one.
    again = [
        msg("clicks", 0, click_bytes("u1", T0_MS, product="p1")),
        msg("clicks", 1, click_bytes("u1", T0_MS + 1000, product="p2")),
        msg("clicks", 2, click_bytes("u1", T0_MS + 2000, action="view", product="p3")),
    ]
    outcome = pipeline.take(again, wall_s=WALL_S + 0.25)

    assert sample(metrics, "nudge_redelivered_events_total") == 2
    profile = table["u1"].state.profile
    assert profile.counts == {"add_to_cart": 2, "view": 1}
    assert profile.to_dict()["cart"] == before["cart"]
    assert table["u1"].offsets == {"clicks": 2}
    # Redelivered input is still acknowledged, in offset order.
    assert done_ids(outcome) == [("clicks", 0), ("clicks", 1), ("clicks", 2)]


def test_same_offset_on_another_topic_is_not_a_redelivery():
    pipeline, table, metrics, _ = make_pipeline()
    pipeline.take([msg("clicks", 5, click_bytes("u1", T0_MS))], wall_s=WALL_S)
    pipeline.take([msg("searches", 5, search_bytes("u1", T0_MS + 10))], wall_s=WALL_S)
    pipeline.take([msg("searches", 3, search_bytes("u1", T0_MS + 20))], wall_s=WALL_S)  # older offset, same topic
    assert sample(metrics, "nudge_redelivered_events_total") == 1
    assert table["u1"].state.profile.counts == {"add_to_cart": 1, "search": 1}
    assert table["u1"].offsets == {"clicks": 5, "searches": 5}


# --- dead letters ---------------------------------------------------------------------------------


def test_malformed_input_becomes_a_dead_letter_with_original_bytes_and_reason():
    pipeline, table, metrics, _ = make_pipeline()
    garbage = b'{"oops" \xff'
    batch = [
        msg("clicks", 10, click_bytes("u1", T0_MS), partition=2),
        msg("clicks", 11, garbage, partition=2),
        msg("clicks", 12, click_bytes("u1", T0_MS + 500, action="view"), key=b"someone-else", partition=2),
        msg("clicks", 13, b"[1, 2]", partition=2),
        msg("clicks", 14, b"also not json", partition=2),
        msg("clicks", 15, click_bytes("u1", T0_MS + 1000, action="view"), partition=2),
    ]
    outcome = pipeline.take(batch, wall_s=WALL_S)

    assert done_ids(outcome) == [("clicks", n) for n in range(10, 16)]
    letters = [out for out in outcome.outputs if out.topic == "dead-letters"]
    assert [out.topic for out in outcome.outputs] == ["dead-letters"] * 4
    assert all(out.partition == 2 for out in letters)
    assert [out.key for out in letters] == [b"u1", b"someone-else", b"u1", b"u1"]
    bodies = [json.loads(out.value) for out in letters]
    assert [body["reason"] for body in bodies] == ["bad_json", "key_mismatch", "not_an_object", "bad_json"]
    assert [body["offset"] for body in bodies] == [11, 12, 13, 14]
    assert all(body["source_topic"] == "clicks" and body["partition"] == 2 for body in bodies)
    assert base64.b64decode(bodies[0]["value_base64"]) == garbage
    assert base64.b64decode(bodies[1]["value_base64"]) == batch[2][1].value
    assert all(body["detail"] for body in bodies)
    assert bodies[0]["rejected_at"] == format_rfc3339(int(WALL_S * 1000))

    assert sample(metrics, "nudge_dead_letters_total", reason="bad_json") == 2
    assert sample(metrics, "nudge_dead_letters_total", reason="key_mismatch") == 1
    assert sample(metrics, "nudge_dead_letters_total", reason="not_an_object") == 1
    # Rejected input never touches a profile.
    assert table["u1"].state.profile.counts == {"add_to_cart": 1, "view": 1}
    assert table["u1"].offsets == {"clicks": 15}


def test_poison_messages_cost_themselves_only_and_never_move_the_clock():
    """Oversized, deeply nested, far-future and huge-key messages in the middle of a batch: each is
    one bounded dead letter, the events after them are applied, and the clock stays put."""
    pipeline, table, metrics, _ = make_pipeline()
    huge = click_bytes("u1", T0_MS)[:-1] + b', "note": "' + b"x" * MAX_MESSAGE_BYTES + b'"}'
    future = json.dumps(click_value("u1", T0_MS + 30 * 365 * 86_400_000, "add_to_cart")).encode()
    batch = [
        msg("clicks", 0, click_bytes("u1", T0_MS)),
        msg("clicks", 1, huge),
        msg("clicks", 2, b"[" * 2000 + b"]" * 2000),
        msg("clicks", 3, future),
        msg("clicks", 4, click_bytes("u1", T0_MS + 1000, action="view"), key=b"k" * (MAX_KEY_BYTES + 1)),
        msg("clicks", 5, click_bytes("u1", T0_MS + 2000, action="view")),
    ]
    outcome = pipeline.take(batch, wall_s=WALL_S)

    assert done_ids(outcome) == [("clicks", n) for n in range(6)]
    letters = [out for out in outcome.outputs if out.topic == "dead-letters"]
    bodies = [json.loads(out.value) for out in letters]
    assert [body["reason"] for body in bodies] == ["too_large", "bad_json", "future_timestamp", "too_large"]
    assert all(len(out.value) + len(out.key or b"") < MAX_OUTPUT_BYTES for out in letters)
    assert letters[3].key == b"k" * MAX_KEY_BYTES  # keyed by the kept prefix, never the whole key
    assert pipeline.clock_ms(0) == T0_MS + 2000
    assert table["u1"].state.profile.counts == {"add_to_cart": 1, "view": 1}
    assert sample(metrics, "nudge_dead_letters_total", reason="future_timestamp") == 1


# --- timestamp synchronization ------------------------------------------------------------------


def test_events_wait_while_another_topic_has_unread_data_then_release_in_event_time_order():
    pipeline, table, metrics, unread = make_pipeline()
    unread.pending.add(("purchases", 0))
    held = pipeline.take(
        [
            msg("clicks", 0, click_bytes("u1", T0_MS)),
            msg("clicks", 1, click_bytes("u1", T0_MS + 3000, action="view")),
        ],
        wall_s=WALL_S,
    )
    assert held.done == []
    assert held.changed == {}
    assert "u1" not in table
    assert sample(metrics, "nudge_waiting_events") == 2
    assert ("purchases", 0, None) in unread.asked

    # The purchase that was unread arrives; nothing else is unread now.
    unread.pending.clear()
    released = pipeline.take([msg("purchases", 0, purchase_bytes("u1", T0_MS + 1000))], wall_s=WALL_S + 0.25)
    assert done_ids(released) == [("clicks", 0), ("purchases", 0), ("clicks", 1)]
    assert sample(metrics, "nudge_waiting_events") == 0
    record = table["u1"]
    assert record.offsets == {"clicks": 1, "purchases": 0}
    # Bought before the view was applied: the cart is empty and no reminder is pending.
    assert record.state.profile.cart == {}
    assert record.state.timers == {}


def test_the_buyer_gets_no_reminder_even_when_clicks_were_read_far_ahead():
    pipeline, _, _, unread = make_pipeline()
    unread.pending.add(("purchases", 0))
    # Clicks read ahead way past the cart deadline, while the purchase has not been read yet.
    outcome = pipeline.take(
        [
            msg("clicks", 0, click_bytes("u1", T0_MS)),
            msg("clicks", 1, click_bytes("u2", T0_MS + 10 * DELAY_MS, action="view"), user="u2"),
        ],
        wall_s=WALL_S,
    )
    assert triggers_of(outcome) == []
    unread.pending.clear()
    outcome = pipeline.take([msg("purchases", 0, purchase_bytes("u1", T0_MS + 1000))], wall_s=WALL_S + 0.25)
    assert triggers_of(outcome) == []


def test_a_stalled_topic_is_given_up_on_only_at_the_wall_clock_s_pace():
    """A topic that says it has data and delivers none holds the partition back for MAX_SYNC_WAIT_S;
    then events are released up to the clock when the wait began plus the time waited since, never
    beyond: releasing all it held once moved a catching-up partition's clock hours ahead."""
    pipeline, table, metrics, unread = make_pipeline()
    unread.pending.add(("purchases", 0))  # says it has data, never delivers it
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS))], wall_s=WALL_S)
    pipeline.take(
        [msg("searches", 0, search_bytes("u1", T0_MS - 1000)), msg("clicks", 1, click_bytes("u2", T0_MS + 3_600_000), user="u2")],
        wall_s=WALL_S + 0.25,
    )

    # The second batch released nothing, so the wait is still counted from the first.
    early = ticking(pipeline, since_s=WALL_S + 0.25, until_s=WALL_S + MAX_SYNC_WAIT_S - 0.25)
    assert [outcome.done for outcome in early] == [[]] * len(early)
    assert sample(metrics, "nudge_waiting_events") == 3

    given_up = pipeline.tick(wall_s=WALL_S + MAX_SYNC_WAIT_S)
    assert done_ids(given_up) == [("searches", 0), ("clicks", 0)]  # event-time order, the hour-ahead click still held
    assert table["u1"].offsets == {"clicks": 0, "searches": 0}
    assert pipeline.clock_ms(0) == T0_MS
    assert sample(metrics, "nudge_waiting_events") == 1
    assert sample(metrics, "nudge_sync_stalls_total", topic="purchases") == 1
    assert sample(metrics, "nudge_sync_forced_releases_total", cause="stall") == 2

    # Ten more seconds move the limit ten seconds of event time: still not an hour.
    assert all(outcome.done == [] for outcome in ticking(pipeline, since_s=WALL_S + MAX_SYNC_WAIT_S, until_s=WALL_S + 12))
    assert pipeline.clock_ms(0) == T0_MS

    # The topic delivers: order is back, the held click goes, and the stall was counted once.
    unread.pending.clear()
    resumed = pipeline.take([msg("purchases", 0, purchase_bytes("u1", T0_MS + 60_000))], wall_s=WALL_S + 12.1)
    assert done_ids(resumed) == [("purchases", 0), ("clicks", 1)]
    assert sample(metrics, "nudge_waiting_events") == 0
    assert sample(metrics, "nudge_sync_stalls_total", topic="purchases") == 1


def test_time_the_worker_was_not_running_does_not_count_towards_the_wait():
    """A worker blocked for seconds (a frozen broker holds its sends, a paused process) cannot
    blame a topic for data it was in no state to fetch: right after it wakes, it waits on."""
    pipeline, _, metrics, unread = make_pipeline()
    unread.pending.add(("purchases", 0))
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS))], wall_s=WALL_S)
    assert pipeline.tick(wall_s=WALL_S + 10).done == []  # the first look after a ten-second freeze
    assert pipeline.tick(wall_s=WALL_S + 10.25).done == []
    assert sample(metrics, "nudge_sync_stalls_total", topic="purchases") == 0
    given_up = ticking(pipeline, since_s=WALL_S + 10.25, until_s=WALL_S + 10 + MAX_SYNC_WAIT_S)
    assert [done_ids(outcome) for outcome in given_up if outcome.done] == [[("clicks", 0)]]


def test_a_live_partition_stalled_by_a_topic_that_never_delivers_keeps_flowing_after_the_wait():
    """Live, event time keeps pace with the wall clock, so once the wait is over, releasing at the
    wall clock's pace lets the partition run on time, however long the stall lasts."""
    pipeline, _, _, unread = make_pipeline()
    unread.pending.add(("purchases", 0))
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS, action="view"))], wall_s=WALL_S)
    released = []
    for second in range(1, 11):
        if second == MAX_SYNC_WAIT_S:
            assert released == []  # nothing before the wait is over
        outcome = pipeline.take([msg("clicks", second, click_bytes("u1", T0_MS + second * 1000, action="view"))], wall_s=WALL_S + second)
        released += done_ids(outcome)
        for outcome in ticking(pipeline, since_s=WALL_S + second, until_s=WALL_S + second + 0.75):
            released += done_ids(outcome)
    assert released == [("clicks", offset) for offset in range(0, 11)]
    assert pipeline.clock_ms(0) == T0_MS + 10_000


def test_a_partition_holds_at_most_max_held_events_and_lets_the_earliest_go():
    pipeline, table, metrics, unread = make_pipeline()
    unread.pending.add(("purchases", 0))
    # Searches run an hour behind clicks: the earliest held events are searches, whatever came first.
    batch = [msg("clicks", n, click_bytes("u1", T0_MS + 3_600_000 + n, action="view")) for n in range(MAX_HELD_EVENTS)]
    batch += [msg("searches", n, search_bytes("u1", T0_MS + n)) for n in range(3)]
    outcome = pipeline.take(batch, wall_s=WALL_S)
    assert done_ids(outcome) == [("searches", 0), ("searches", 1), ("searches", 2)]
    assert sample(metrics, "nudge_waiting_events") == MAX_HELD_EVENTS
    assert sample(metrics, "nudge_sync_forced_releases_total", cause="lookahead") == 3


# --- idle advance -------------------------------------------------------------------------------


def test_idle_partition_clock_follows_the_wall_clock_and_fires_the_cart_timer():
    pipeline, _, metrics, _ = make_pipeline(idle_advance_ms=1000)
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS, price=12.5, quantity=2), partition=1)], wall_s=WALL_S)

    assert pipeline.tick(wall_s=WALL_S + 0.5).outputs == []  # not idle long enough yet
    assert pipeline.tick(wall_s=WALL_S + DELAY_MS / 1000 - 0.25).outputs == []  # idle, not due
    due_wall_s = WALL_S + DELAY_MS / 1000
    outcome = pipeline.tick(wall_s=due_wall_s)

    assert len(outcome.outputs) == 1
    out = outcome.outputs[0]
    assert out.topic == "triggers"
    assert out.key == b"u1"
    assert out.partition == 1
    body = json.loads(out.value)
    assert set(body) == {"trigger_id", "user_id", "rule", "ts", "emitted_at", "channel", "payload", "reason", "propensity", "uplift", "variant"}
    assert body["rule"] == "abandoned_cart"
    assert body["user_id"] == "u1"
    assert body["ts"] == format_rfc3339(T0_MS + DELAY_MS)
    assert body["emitted_at"] == format_rfc3339(int(due_wall_s * 1000))
    assert body["channel"] == "push"
    assert body["payload"]["item_count"] == 2
    assert body["payload"]["value"] == 25.0
    assert body["trigger_id"]
    assert body["reason"]
    # The fired timer is gone from the user's record, which the tick reports as changed.
    assert outcome.changed["u1"].state.timers == {}
    assert sample(metrics, "nudge_triggers_total", rule="abandoned_cart", channel="push", variant="") == 1
    assert sample(metrics, "nudge_partition_clock_seconds", partition="1") == (T0_MS + DELAY_MS) / 1000
    assert pipeline.tick(wall_s=due_wall_s + 10).outputs == []  # fires once


def test_idle_clock_runs_from_the_last_arrival():
    pipeline, _, _, _ = make_pipeline(idle_advance_ms=1000)
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS))], wall_s=WALL_S)
    # Another user's event 3 s of wall time later, 100 ms later in event time.
    pipeline.take([msg("clicks", 1, click_bytes("u2", T0_MS + 100, action="view"), user="u2")], wall_s=WALL_S + 3)

    # Measured from the first arrival the timer would be due now; from the last arrival the
    # clock is only at T0 + 100 + 2000.
    assert triggers_of(pipeline.tick(wall_s=WALL_S + DELAY_MS / 1000)) == []
    assert triggers_of(pipeline.tick(wall_s=WALL_S + 3 + 4.875)) == []  # clock at T0 + 4975
    fired = triggers_of(pipeline.tick(wall_s=WALL_S + 3 + 5))  # clock at T0 + 5100
    assert [(t["user_id"], t["ts"]) for t in fired] == [("u1", format_rfc3339(T0_MS + DELAY_MS))]


def test_a_partition_that_keeps_receiving_gets_no_wall_clock_advance():
    pipeline, _, metrics, _ = make_pipeline(idle_advance_ms=1000)
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS))], wall_s=WALL_S)
    last_ts = T0_MS
    # Twenty seconds of wall time, four times the cart delay, with an event every half second
    # that barely moves event time: the partition is never idle, so only event time counts.
    for n in range(1, 41):
        wall = WALL_S + n * 0.5
        last_ts = T0_MS + n * 10
        out = pipeline.take([msg("searches", n, search_bytes("u2", last_ts), user="u2")], wall_s=wall)
        assert triggers_of(out) == []
        assert triggers_of(pipeline.tick(wall_s=wall + 0.25)) == []
    assert sample(metrics, "nudge_partition_clock_seconds", partition="0") == last_ts / 1000


def test_idle_advance_does_not_move_a_partition_that_still_holds_events():
    pipeline, _, _, unread = make_pipeline(idle_advance_ms=1000, config=cart_book(1000))
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS))], wall_s=WALL_S)
    unread.pending.add(("purchases", 0))
    pipeline.take([msg("clicks", 1, click_bytes("u2", T0_MS + 10, action="view"), user="u2")], wall_s=WALL_S + 0.25)
    # Idle for 1.75 s, past the 1 s deadline, but a purchase may still come first: no advance.
    waiting = ticking(pipeline, since_s=WALL_S + 0.25, until_s=WALL_S + MAX_SYNC_WAIT_S)
    assert [triggers_of(outcome) for outcome in waiting] == [[]] * len(waiting)
    # Once the wait is given up, the held view is applied and the clock follows the wall again.
    outcome = pipeline.tick(wall_s=WALL_S + 0.25 + MAX_SYNC_WAIT_S)
    assert done_ids(outcome) == [("clicks", 1)]
    assert [(t["user_id"], t["ts"]) for t in triggers_of(outcome)] == [("u1", format_rfc3339(T0_MS + 1000))]


def test_a_quiet_partition_with_data_still_unread_is_waiting_for_its_next_fetch_not_idle():
    """Catching up, a worker can go seconds between one partition's fetches. Moving the clock
    with the wall clock then fired a cart reminder that the purchase still unread cancels."""
    pipeline, _, metrics, unread = make_pipeline(idle_advance_ms=1000, config=cart_book(1000))
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS))], wall_s=WALL_S)
    unread.pending.add(("purchases", 0))  # not fetched yet
    between_fetches = ticking(pipeline, since_s=WALL_S, until_s=WALL_S + 1.75)
    assert [outcome.outputs for outcome in between_fetches] == [[]] * len(between_fetches)
    assert pipeline.clock_ms(0) == T0_MS
    unread.pending.clear()
    fetched = pipeline.take([msg("purchases", 0, purchase_bytes("u1", T0_MS + 500))], wall_s=WALL_S + 1.8)
    assert triggers_of(fetched) == [] and pipeline.clock_ms(0) == T0_MS + 500
    assert sample(metrics, "nudge_sync_stalls_total", topic="purchases") == 0


def test_unread_data_that_never_comes_is_given_up_on_and_the_quiet_clock_moves_on():
    pipeline, _, metrics, unread = make_pipeline(idle_advance_ms=1000, config=cart_book(1000))
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS))], wall_s=WALL_S)
    unread.pending.add(("purchases", 0))  # says it has data, never delivers it
    waited = ticking(pipeline, since_s=WALL_S, until_s=WALL_S + MAX_SYNC_WAIT_S - 0.25)
    assert [outcome.outputs for outcome in waited] == [[]] * len(waited)
    fired = triggers_of(pipeline.tick(wall_s=WALL_S + MAX_SYNC_WAIT_S))
    assert [(t["user_id"], t["ts"]) for t in fired] == [("u1", format_rfc3339(T0_MS + 1000))]
    assert sample(metrics, "nudge_sync_stalls_total", topic="purchases") == 1


# --- assignment and restore -----------------------------------------------------------------------


def armed_table() -> dict[str, UserRecord]:
    """A users table as a previous worker left it: u0 on partition 0 and u1 on partition 1, both
    with a cart reminder pending."""
    pipeline, table, _, _ = make_pipeline()
    pipeline.take(
        [
            msg("clicks", 0, click_bytes("u0", T0_MS), user="u0", partition=0),
            msg("clicks", 0, click_bytes("u1", T0_MS + 200), user="u1", partition=1),
        ],
        wall_s=WALL_S,
    )
    assert {user: set(record.state.timers) for user, record in table.items()} == {
        "u0": {"abandoned_cart"},
        "u1": {"abandoned_cart"},
    }
    return table


def test_assign_restores_timers_of_its_partitions_only():
    table = armed_table()
    restarted, _, _, _ = make_pipeline(table)
    later = WALL_S + 60
    restarted.assign([0], wall_s=later)
    assert restarted.partitions == [0]

    outcome = restarted.tick(wall_s=later + 10)  # idle long past both deadlines
    fired = [(out.partition, out.key, json.loads(out.value)["ts"]) for out in outcome.outputs]
    # u1's record belongs to partition 1: partition 0 must not schedule (or fire) it.
    assert fired == [(0, b"u0", format_rfc3339(T0_MS + DELAY_MS))]
    assert set(outcome.changed) == {"u0"}
    assert table["u1"].state.timers != {}


def test_assign_resumes_the_clock_at_the_partitions_latest_event():
    table = armed_table()
    restarted, _, _, _ = make_pipeline(table)
    restarted.assign([1], wall_s=WALL_S + 60)
    # The clock resumes at u1's last event (T0 + 200), so its deadline is 5 s of idle away.
    assert restarted.tick(wall_s=WALL_S + 60 + 4.875).outputs == []
    outcome = restarted.tick(wall_s=WALL_S + 60 + 5)
    assert [(out.partition, out.key) for out in outcome.outputs] == [(1, b"u1")]


def test_assign_drops_unassigned_partitions():
    table = armed_table()
    restarted, _, metrics, _ = make_pipeline(table)
    restarted.assign([0, 1], wall_s=WALL_S + 60)
    assert restarted.partitions == [0, 1]
    restarted.assign([1, 2], wall_s=WALL_S + 61)
    assert restarted.partitions == [1, 2]

    outcome = restarted.tick(wall_s=WALL_S + 61 + 30)
    assert [(out.partition, out.key) for out in outcome.outputs] == [(1, b"u1")]
    assert table["u0"].state.timers != {}  # left for whichever worker owns partition 0 now


def test_assign_keeps_the_partitions_it_already_owns():
    pipeline, table, _, _ = make_pipeline()
    pipeline.assign([0], wall_s=WALL_S)
    pipeline.take([msg("clicks", 0, click_bytes("u0", T0_MS), user="u0")], wall_s=WALL_S)
    pipeline.assign([0, 1], wall_s=WALL_S + 0.25)  # a rebalance that adds a partition
    outcome = pipeline.tick(wall_s=WALL_S + DELAY_MS / 1000)
    assert [(out.partition, out.key) for out in outcome.outputs] == [(0, b"u0")]


# --- erasure and the population -------------------------------------------------------------


def erasure_bytes(user: str, ts_ms: int) -> bytes:
    return json.dumps(erasure_value(user, ts_ms)).encode()


def test_an_erasure_becomes_a_tombstone_and_the_user_is_no_longer_written():
    pipeline, table, metrics, _ = make_pipeline()
    pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS), partition=1)], wall_s=WALL_S)
    outcome = pipeline.take(
        [
            msg("clicks", 1, click_bytes("u1", T0_MS + 1, product="p2"), partition=1),
            msg("erasures", 0, erasure_bytes("u1", T0_MS + 2), partition=1),
        ],
        wall_s=WALL_S,
    )
    assert outcome.erased == {"u1": 1}
    assert "u1" not in outcome.changed and "u1" not in table
    assert sorted(done_ids(outcome)) == [("clicks", 1), ("erasures", 0)]
    assert sample(metrics, "nudge_erasures_total") == 1
    # Past the forgotten cart's deadline: no reminder for a user who is gone.
    later = pipeline.take([msg("clicks", 2, click_bytes("u2", T0_MS + DELAY_MS + 5, action="view"), user="u2", partition=1)], wall_s=WALL_S)
    assert triggers_of(later) == []


def test_a_user_who_comes_back_in_the_same_batch_is_written_not_erased():
    pipeline, table, _, _ = make_pipeline()
    outcome = pipeline.take(
        [
            msg("clicks", 0, click_bytes("u1", T0_MS)),
            msg("erasures", 0, erasure_bytes("u1", T0_MS + 1)),
            msg("clicks", 1, click_bytes("u1", T0_MS + 2, action="view")),
        ],
        wall_s=WALL_S,
    )
    assert outcome.erased == {}
    assert outcome.changed["u1"].state.profile.counts == {"view": 1}


def test_a_changed_population_is_handed_out_once_and_kept_in_the_populations_table():
    populations: dict[str, Population] = {}
    pipeline = Pipeline(
        table=MemoryTable({}, partition_of=lambda user_id, record: record.partition),
        populations=MemoryTable(populations, partition_of=lambda key, population: int(key)),
        book=CONFIG,
        profile_config=ProfileConfig(),
        metrics=Metrics(),
        has_unread=Unread(),
        idle_advance_ms=1000,
        input_topics=TOPICS,
    )
    outcome = pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS, action="view", price=40.0), partition=2)], wall_s=WALL_S)
    assert list(outcome.populations) == [2]
    population = outcome.populations[2]
    assert populations == {"2": population}
    assert population.average_price("shoes") == 40.0
    assert decode_population(encode_population(population)).average_price("shoes") == 40.0
    quiet = pipeline.take([msg("clicks", 1, click_bytes("u1", T0_MS + 1, action="add_to_cart"), partition=2)], wall_s=WALL_S)
    assert quiet.populations == {}, "an add to cart teaches the population nothing"


def test_a_restored_population_is_what_the_partition_learns_on_from():
    restored = Population()
    restored.add_price("shoes", 100.0)
    pipeline = Pipeline(
        table=MemoryTable({}, partition_of=lambda user_id, record: record.partition),
        populations=MemoryTable({"0": restored}, partition_of=lambda key, population: int(key)),
        book=CONFIG,
        profile_config=ProfileConfig(),
        metrics=Metrics(),
        has_unread=Unread(),
        idle_advance_ms=1000,
        input_topics=TOPICS,
    )
    outcome = pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS, action="view", price=50.0))], wall_s=WALL_S)
    assert outcome.populations[0] is restored
    assert restored.average_price("shoes") == 75.0


def test_a_record_over_its_bound_is_counted_and_not_written_so_the_producer_never_sees_it(monkeypatch):
    """Bounds hold by construction (tests/unit/test_record_bounds.py); should one ever fail, the
    worker must not hand the producer a record it refuses, which crashed it on every restart."""
    import agents.pipeline

    pipeline, _, metrics, _ = make_pipeline()
    outcome = pipeline.take([msg("clicks", 0, click_bytes("u1", T0_MS)), msg("clicks", 1, click_bytes("u2", T0_MS), user="u2")], wall_s=WALL_S)
    assert [user for _, user, _ in pipeline.user_writes(outcome)] == ["u1", "u2"]
    monkeypatch.setattr(agents.pipeline, "MAX_USER_RECORD_BYTES", 10)
    assert list(pipeline.user_writes(outcome)) == []
    assert sample(metrics, "nudge_oversized_total", what="user_record") == 2


def test_a_topic_partition_holding_too_much_is_paused_until_it_holds_little():
    """As Kafka Streams' buffered.records.per.partition: purchases, sparse in event time for their
    bytes, ran ahead of clicks fetch after fetch until the look-ahead's forced releases broke
    event-time order."""
    pipeline, _, _, unread = make_pipeline()
    unread.pending.add(("clicks", 0))  # clicks lag: nothing of them fetched yet
    ahead = [msg("purchases", n, purchase_bytes(f"u{n}", T0_MS + n), user=f"u{n}") for n in range(PAUSE_ABOVE + 1)]
    pipeline.take(ahead, wall_s=WALL_S)
    assert pipeline.flow() == ({("purchases", 0)}, set())
    assert pipeline.flow() == ({("purchases", 0)}, set())  # asked for again: a rebalance may have resumed it
    unread.pending.clear()
    pipeline.take([msg("clicks", 0, click_bytes("u0", T0_MS + PAUSE_ABOVE - RESUME_BELOW + 2, action="view"))], wall_s=WALL_S + 0.1)
    assert pipeline.flow() == (set(), {("purchases", 0)})  # all but the latest released


def test_an_engagement_about_a_user_not_held_is_taken_and_acknowledged_without_a_record():
    """After an erasure, a sender may still report on the user's last message: the worker takes it,
    writes nothing about them and moves on (it once raised KeyError here and crash-looped)."""
    pipeline, table, metrics, _ = make_pipeline()
    late = json.dumps(engagement_value("t-1", "ghost", "push", EngagementType.DELIVERED, T0_MS)).encode()
    outcome = pipeline.take([msg("engagements", 0, late, user="ghost", partition=1)], wall_s=WALL_S)
    assert done_ids(outcome) == [("engagements", 0)]
    assert "ghost" not in table and "ghost" not in outcome.changed
    assert sample(metrics, "nudge_events_total", topic="engagements") == 1
