"""Erasure through the partition engine: the user is forgotten, their timers die, counts follow."""

from __future__ import annotations

from builders import MINUTE_MS, T0_MS, add, cart_book, erasure, item, purchase, view
from streams.rfm import MIN_CUSTOMERS
from streams.partition import PartitionEngine
from streams.state import UserState

DELAY_MS = 30 * MINUTE_MS
CONFIG = cart_book(DELAY_MS)


def new_engine(store: dict[str, UserState] | None = None) -> PartitionEngine:
    return PartitionEngine(store={} if store is None else store, book=CONFIG)


def nonzero(engine: PartitionEngine) -> dict[str, int]:
    return {name: count for name, count in engine.segments.items() if count}


def test_erasure_deletes_the_user_from_the_store():
    store: dict[str, UserState] = {}
    engine = new_engine(store)
    engine.on_event(view("u1", T0_MS))
    engine.on_event(view("u2", T0_MS + 1))
    [done] = engine.on_event(erasure("u1", T0_MS + 2))
    assert set(store) == {"u2"}
    # The notice `nudge forget --wait` and the systems downstream read: at the partition's clock.
    assert (done.event_id, done.user_id, done.found, done.requested_ms, done.erased_ms) == (f"u1:erasure:{T0_MS + 2}", "u1", True, T0_MS + 2, T0_MS + 1)


def test_erasure_cancels_the_pending_abandoned_cart_timer():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS, "p1", 10.0))
    engine.on_event(add("u2", T0_MS, "p2", 20.0))  # keeps its reminder: proves timers still fire
    engine.on_event(erasure("u1", T0_MS + MINUTE_MS))
    triggers = engine.advance(T0_MS + 10 * DELAY_MS)
    assert [(trigger.user_id, trigger.ts_ms) for trigger in triggers] == [("u2", T0_MS + DELAY_MS)]
    assert "u1" not in engine.store


def test_a_returning_user_does_not_revive_the_old_timer():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS, "p1", 10.0))
    engine.on_event(erasure("u1", T0_MS + MINUTE_MS))
    engine.on_event(view("u1", T0_MS + 2 * MINUTE_MS))  # back, but with an empty cart
    assert engine.advance(T0_MS + 10 * DELAY_MS) == []


def test_a_returning_user_s_new_cart_gets_its_own_deadline():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS, "p1", 10.0))
    engine.on_event(erasure("u1", T0_MS + MINUTE_MS))
    engine.on_event(add("u1", T0_MS + 5 * MINUTE_MS, "p2", 20.0))
    assert engine.advance(T0_MS + DELAY_MS) == []  # the erased cart's deadline passes silently
    [trigger] = engine.advance(T0_MS + 5 * MINUTE_MS + DELAY_MS)
    assert trigger.payload["items"] == [{"product_id": "p2", "category": "shoes", "price": 20.0, "quantity": 1}]


def test_erasure_decrements_segment_counts():
    engine = new_engine()
    engine.on_event(view("u1", T0_MS))
    engine.on_event(view("u2", T0_MS + 1))
    assert nonzero(engine) == {"lifecycle:new": 2}
    engine.on_event(erasure("u1", T0_MS + 2))
    assert nonzero(engine) == {"lifecycle:new": 1}
    engine.on_event(erasure("u2", T0_MS + 3))
    assert nonzero(engine) == {}


def test_erasure_decrements_the_rfm_segment_too():
    engine = new_engine()
    for n in range(MIN_CUSTOMERS):
        engine.on_event(purchase(f"u{n}", T0_MS + n, [item("p1", 10.0 * (n + 1))]))
    last = f"u{MIN_CUSTOMERS - 1}"
    latest = engine.store[last].profile
    assert latest.rfm is not None  # the customer who completes the population is scored on their own purchase
    segment = "rfm:" + latest.rfm_segment
    before = engine.segments[segment]
    assert before >= 1
    engine.on_event(erasure(last, T0_MS + 100))
    assert engine.segments[segment] == before - 1
    assert engine.segments["lifecycle:active"] == MIN_CUSTOMERS - 1


def test_a_later_event_starts_a_fresh_profile():
    engine = new_engine()
    engine.on_event(view("u1", T0_MS))
    engine.on_event(add("u1", T0_MS + 1, "p1", 10.0, 2))
    engine.on_event(purchase("u1", T0_MS + 2, [item("p9", 99.0)]))
    engine.on_event(erasure("u1", T0_MS + 3))
    engine.on_event(view("u1", T0_MS + 4, "p5"))
    profile = engine.store["u1"].profile
    assert profile.counts == {"view": 1}
    assert (profile.first_seen_ms, profile.last_seen_ms) == (T0_MS + 4, T0_MS + 4)
    assert profile.cart == {} and profile.total_spend == 0.0 and profile.last_purchase_ms is None
    assert profile.categories.top(5) == ["shoes"] and profile.products.top(5) == ["p5"]
    assert profile.session.count == 1
    assert engine.store["u1"].timers == {}
    assert nonzero(engine) == {"lifecycle:new": 1}


def test_erasure_of_an_unknown_user_changes_nothing_and_is_confirmed():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS, "p1", 10.0))
    store_before = {user: state.to_dict() for user, state in engine.store.items()}
    segments_before = nonzero(engine)
    [done] = engine.on_event(erasure("ghost", T0_MS + 1))
    assert (done.user_id, done.found) == ("ghost", False)  # confirmed all the same: nothing is held
    assert {user: state.to_dict() for user, state in engine.store.items()} == store_before
    assert "ghost" not in engine.store
    assert nonzero(engine) == segments_before
    assert len(engine.advance(T0_MS + DELAY_MS)) == 1  # u1's reminder is untouched


def test_erasing_twice_is_harmless():
    engine = new_engine()
    engine.on_event(view("u1", T0_MS))
    engine.on_event(erasure("u1", T0_MS + 1))
    engine.on_event(erasure("u1", T0_MS + 2))
    assert engine.store == {}
    assert nonzero(engine) == {}
    assert engine.segments["lifecycle:new"] == 0


def test_an_erasure_stamped_far_ahead_never_moves_the_partition_clock():
    """`nudge forget` stamps the erasure with the wall clock; in a partition whose event time lags
    (a catch-up, a replay), applying it at that time used to fire everyone else's timers at once."""
    engine = new_engine()
    engine.on_event(add("u1", T0_MS, "p1", 10.0))
    engine.on_event(view("u2", T0_MS + MINUTE_MS))
    [done] = engine.on_event(erasure("u2", T0_MS + 2 * 86_400_000))  # two days ahead of the partition
    assert done.erased_ms == T0_MS + MINUTE_MS
    assert engine.clock_ms == T0_MS + MINUTE_MS
    assert engine.advance(T0_MS + DELAY_MS - 1) == []  # u1's reminder is still pending, not fired early
    [trigger] = engine.advance(T0_MS + DELAY_MS)
    assert (trigger.user_id, trigger.ts_ms) == ("u1", T0_MS + DELAY_MS)


def test_an_erasure_on_a_partition_that_has_seen_nothing_is_confirmed_at_its_own_time():
    [done] = new_engine().on_event(erasure("u1", T0_MS))
    assert (done.found, done.erased_ms) == (False, T0_MS)
