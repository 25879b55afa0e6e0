"""Timestamp synchronization across a partition's input topics (KIP-353 style)."""

from __future__ import annotations

import pytest

from builders import MINUTE_MS, T0_MS, add, cart_book, item, purchase, view
from schemas.events import InputTopic
from streams.partition import PartitionEngine
from streams.synchronizer import UNTIMED, TimestampSynchronizer

TOPICS = [InputTopic.CLICKS, InputTopic.SEARCHES, InputTopic.PURCHASES]
CLICKS, SEARCHES, PURCHASES = TOPICS


def caught_up(topic: str) -> bool:
    return False


def unread(*topics: str):
    return lambda topic: topic in topics


def new_sync(topics=("a", "b", "c")) -> TimestampSynchronizer[str]:
    return TimestampSynchronizer(list(topics))


# --- ordering -------------------------------------------------------------------------------


def test_releases_in_event_time_order_across_topics():
    sync = new_sync()
    sync.push("a", 10, "a10")
    sync.push("a", 30, "a30")
    sync.push("b", 20, "b20")
    sync.push("c", 5, "c5")
    sync.push("c", 40, "c40")
    assert sync.release(caught_up) == ["c5", "a10", "b20", "a30", "c40"]
    assert len(sync) == 0


def test_offset_order_is_kept_within_a_topic_when_timestamps_go_backwards():
    sync = new_sync()
    sync.push("a", 50, "a50")
    sync.push("a", 10, "a10")  # later offset, earlier timestamp: must stay after a50
    sync.push("b", 30, "b30")
    assert sync.release(caught_up) == ["b30", "a50", "a10"]


def test_one_topic_alone_is_released_in_offset_order():
    sync = new_sync()
    for ts in (5, 3, 9, 1):
        sync.push("b", ts, f"b{ts}")
    assert sync.release(caught_up) == ["b5", "b3", "b9", "b1"]


def test_ties_break_by_topic_order_given_at_construction():
    forward = new_sync(("a", "b", "c"))
    backward = new_sync(("c", "b", "a"))
    for sync in (forward, backward):
        # pushed in an order that matches neither topic order
        sync.push("b", 10, "b10")
        sync.push("c", 10, "c10")
        sync.push("a", 10, "a10")
    assert forward.release(caught_up) == ["a10", "b10", "c10"]
    assert backward.release(caught_up) == ["c10", "b10", "a10"]


def test_tie_breaking_is_deterministic_across_runs():
    def run():
        sync = new_sync()
        for topic, ts in [("c", 7), ("a", 7), ("b", 3), ("a", 7), ("c", 3), ("b", 7)]:
            sync.push(topic, ts, f"{topic}{ts}")
        return sync.release(caught_up)

    assert run() == run() == ["b3", "a7", "a7", "b7", "c7", "c3"]


# --- waiting on unread data -----------------------------------------------------------------


def test_waits_while_an_empty_topic_has_unread_data():
    sync = new_sync()
    sync.push("a", 10, "a10")
    sync.push("a", 40, "a40")
    assert sync.release(unread("b")) == []
    assert len(sync) == 2
    sync.push("b", 20, "b20")
    assert sync.release(unread("b")) == ["a10", "b20"]  # b empty with unread again: stop there
    assert len(sync) == 1
    assert sync.release(caught_up) == ["a40"]


def test_a_caught_up_empty_topic_does_not_hold_back():
    sync = new_sync()
    sync.push("a", 10, "a10")
    sync.push("a", 40, "a40")
    assert sync.release(unread()) == ["a10", "a40"]


def test_unread_data_on_a_buffered_topic_does_not_hold_back():
    # The buffered head bounds the topic: its unread records come after it in offset order.
    sync = new_sync()
    sync.push("a", 10, "a10")
    sync.push("b", 20, "b20")
    assert sync.release(unread("a", "b")) == ["a10"]  # then a is empty with unread: stop
    assert len(sync) == 1


def test_release_on_empty_returns_nothing():
    sync = new_sync()
    assert sync.release(caught_up) == []
    assert sync.release(unread("a")) == []
    assert sync.drain() == []
    assert len(sync) == 0


# --- UNTIMED --------------------------------------------------------------------------------


def test_untimed_item_at_a_topic_head_releases_at_once():
    sync = new_sync()
    sync.push("b", 5, "b5")
    sync.push("a", UNTIMED, "bad")
    sync.push("a", 10, "a10")
    assert sync.release(caught_up) == ["bad", "b5", "a10"]


def test_untimed_item_behind_a_timed_one_keeps_offset_order():
    sync = new_sync()
    sync.push("a", 50, "a50")
    sync.push("a", UNTIMED, "bad")
    sync.push("b", 10, "b10")
    assert sync.release(caught_up) == ["b10", "a50", "bad"]


def test_untimed_sorts_before_any_real_event_time():
    assert UNTIMED < 0 <= T0_MS


# --- len and drain --------------------------------------------------------------------------


def test_len_tracks_pending_items():
    sync = new_sync()
    assert len(sync) == 0
    sync.push("a", 10, "a10")
    sync.push("b", 20, "b20")
    sync.push("a", 30, "a30")
    assert len(sync) == 3
    assert sync.release(unread("c")) == []
    assert len(sync) == 3
    sync.push("c", 15, "c15")
    assert sync.release(unread("c")) == ["a10", "c15"]
    assert len(sync) == 2
    assert sync.drain() == ["b20", "a30"]
    assert len(sync) == 0


def test_drain_releases_everything_in_order_despite_unread_topics():
    sync = new_sync()
    sync.push("a", 30, "a30")
    sync.push("b", 10, "b10")
    sync.push("a", 20, "a20")
    assert sync.release(unread("c")) == []
    assert sync.drain() == ["b10", "a30", "a20"]
    assert len(sync) == 0
    assert sync.drain() == []


def test_unknown_topic_is_refused():
    sync = new_sync()
    with pytest.raises(KeyError):
        sync.push("nope", 1, "x")
    assert len(sync) == 0


# --- the scenario it exists for -------------------------------------------------------------

CONFIG = cart_book(30 * MINUTE_MS)


def cross_topic_input():
    """A buyer: add at t0 and a view at t0+40 on clicks, the purchase at t0+10 on purchases."""
    added = add("u1", T0_MS, "p1", 49.0)
    viewed = view("u1", T0_MS + 40 * MINUTE_MS, "p2", 15.0)
    bought = purchase("u1", T0_MS + 10 * MINUTE_MS, [item("p1", 49.0)])
    return [(CLICKS, added), (CLICKS, viewed)], [(PURCHASES, bought)]


def test_arrival_order_alone_would_nudge_a_buyer():
    clicks, purchases = cross_topic_input()
    engine = PartitionEngine(store={}, book=CONFIG)
    triggers = []
    for _, event in clicks + purchases:  # clicks read ahead, purchases read after
        triggers += engine.on_event(event)
    assert [(t.rule, t.user_id, t.ts_ms) for t in triggers] == [("abandoned_cart", "u1", T0_MS + 30 * MINUTE_MS)]


def test_synchronized_input_does_not_nudge_a_buyer():
    clicks, purchases = cross_topic_input()
    engine = PartitionEngine(store={}, book=CONFIG)
    sync: TimestampSynchronizer = TimestampSynchronizer(TOPICS)
    triggers = []

    for topic, event in clicks:  # clicks read ahead
        sync.push(topic, event.ts_ms, event)
    released = sync.release(unread(PURCHASES))
    assert released == []  # purchases has unread data and nothing buffered: wait
    for event in released:
        triggers += engine.on_event(event)

    for topic, event in purchases:
        sync.push(topic, event.ts_ms, event)
    released = sync.release(caught_up)
    assert [event.ts_ms - T0_MS for event in released] == [0, 10 * MINUTE_MS, 40 * MINUTE_MS]
    for event in released:
        triggers += engine.on_event(event)

    assert triggers == []
    assert engine.store["u1"].profile.cart == {}
    assert engine.store["u1"].timers == {}
    assert engine.advance(T0_MS + 1000 * MINUTE_MS) == []
    assert len(sync) == 0


def test_synchronized_input_still_nudges_a_non_buyer():
    # Same shape without the purchase: the synchronizer must not swallow a real abandonment.
    clicks, _ = cross_topic_input()
    engine = PartitionEngine(store={}, book=CONFIG)
    sync: TimestampSynchronizer = TimestampSynchronizer(TOPICS)
    for topic, event in clicks:
        sync.push(topic, event.ts_ms, event)
    triggers = []
    for event in sync.release(caught_up):
        triggers += engine.on_event(event)
    assert [(t.user_id, t.ts_ms) for t in triggers] == [("u1", T0_MS + 30 * MINUTE_MS)]
