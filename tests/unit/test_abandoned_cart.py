"""abandoned_cart through the partition engine, with exact event times at every edge.

The delay is 30 min; ``due`` below is always ``last cart change + 30 min``. An event at time T
first fires every timer due at or before T, then is applied: that is what decides the edges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from builders import MINUTE_MS, T0_MS, add, cart_book, item, purchase, remove, search, view
from schemas.outputs import Trigger, trigger_id_for
from schemas.timestamps import format_rfc3339
from streams.rules.kinds import longest_delay_ms
from streams.config import DAY_MS
from streams.partition import PartitionEngine
from streams.rules.spec import AbandonedCartParams, Models
from streams.state import UserState

RULE = "abandoned_cart"  # the rule name cart_book gives it
DELAY_MS = 30 * MINUTE_MS
CONFIG = cart_book(DELAY_MS)
DUE_MS = T0_MS + DELAY_MS  # due time of a cart first changed at T0_MS


def new_engine(store: dict[str, UserState] | None = None) -> PartitionEngine:
    return PartitionEngine(store={} if store is None else store, book=CONFIG)


def feed(engine: PartitionEngine, events) -> list[Trigger]:
    """The triggers the events make; conversions of later purchases are another test's concern."""
    triggers = []
    for event in events:
        triggers.extend(output for output in engine.on_event(event) if isinstance(output, Trigger))
    return triggers


def test_rule_name_and_default_config():
    assert RULE == "abandoned_cart"
    assert AbandonedCartParams().delay_ms == DELAY_MS
    assert AbandonedCartParams().once_per_ms == DAY_MS
    assert longest_delay_ms(CONFIG) == DELAY_MS  # no quiet hours in this book


# --- the deadline ---------------------------------------------------------------------------


def test_fires_at_exactly_due_and_not_a_millisecond_before():
    engine = new_engine()
    first = add("u1", T0_MS, "p1", 10.0)
    assert engine.on_event(first) == []
    assert engine.advance(DUE_MS - 1) == []
    assert engine.clock_ms == DUE_MS - 1
    [trigger] = engine.advance(DUE_MS)
    assert trigger.ts_ms == DUE_MS
    assert trigger.rule == RULE
    assert trigger.user_id == "u1"
    assert trigger.trigger_id == trigger_id_for("u1", RULE, first.event_id)


def test_fires_once_only():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS))
    assert len(engine.advance(DUE_MS)) == 1
    assert engine.advance(DUE_MS) == []
    assert engine.advance(DUE_MS + 10 * DELAY_MS) == []
    assert engine.on_event(view("u1", DUE_MS + 11 * DELAY_MS)) == []
    assert RULE not in engine.store["u1"].timers


def test_advance_never_moves_the_clock_back():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS))
    engine.advance(DUE_MS - 1)
    assert engine.advance(T0_MS) == []
    assert engine.clock_ms == DUE_MS - 1
    assert len(engine.advance(DUE_MS)) == 1


@dataclass(frozen=True)
class Case:
    name: str
    events: tuple  # fed in order through on_event
    advance_to_ms: int  # then the clock is advanced here
    expect_trigger_ms: tuple[int, ...]  # ts_ms of every trigger, in order


_AFTER_ALL_MS = T0_MS + 2 * DAY_MS

CASES = [
    Case("add_then_nothing", (add("u1", T0_MS),), _AFTER_ALL_MS, (DUE_MS,)),
    Case("advance_to_due_minus_1", (add("u1", T0_MS),), DUE_MS - 1, ()),
    Case("advance_to_due", (add("u1", T0_MS),), DUE_MS, (DUE_MS,)),
    Case("purchase_at_due_minus_1_cancels", (add("u1", T0_MS), purchase("u1", DUE_MS - 1, [item("p1", 10.0)])), _AFTER_ALL_MS, ()),
    Case("purchase_at_due_is_too_late", (add("u1", T0_MS), purchase("u1", DUE_MS, [item("p1", 10.0)])), _AFTER_ALL_MS, (DUE_MS,)),
    Case("purchase_of_other_item_still_cancels", (add("u1", T0_MS), purchase("u1", T0_MS + 1, [item("zz", 1.0)])), _AFTER_ALL_MS, ()),
    Case("view_at_due_minus_1_does_not_re_arm", (add("u1", T0_MS), view("u1", DUE_MS - 1)), DUE_MS, (DUE_MS,)),
    Case("search_does_not_re_arm", (add("u1", T0_MS), search("u1", T0_MS + MINUTE_MS)), DUE_MS, (DUE_MS,)),
    Case("event_at_due_fires_first", (add("u1", T0_MS), view("u1", DUE_MS)), DUE_MS, (DUE_MS,)),
    Case("re_add_at_due_minus_1_re_arms", (add("u1", T0_MS), add("u1", DUE_MS - 1, "p2")), DUE_MS + DELAY_MS - 2, ()),
    Case("re_add_fires_at_its_own_due", (add("u1", T0_MS), add("u1", DUE_MS - 1, "p2")), DUE_MS + DELAY_MS - 1, (DUE_MS + DELAY_MS - 1,)),
    Case("partial_remove_re_arms", (add("u1", T0_MS, quantity=2), remove("u1", T0_MS + MINUTE_MS)), DUE_MS, ()),
    Case("partial_remove_fires_later", (add("u1", T0_MS, quantity=2), remove("u1", T0_MS + MINUTE_MS)), DUE_MS + MINUTE_MS, (DUE_MS + MINUTE_MS,)),
    Case("emptying_remove_cancels", (add("u1", T0_MS), remove("u1", T0_MS + MINUTE_MS)), _AFTER_ALL_MS, ()),
    Case("over_remove_cancels", (add("u1", T0_MS, quantity=2), remove("u1", T0_MS + 1, quantity=9)), _AFTER_ALL_MS, ()),
    Case("remove_of_absent_product_re_arms", (add("u1", T0_MS), remove("u1", T0_MS + MINUTE_MS, "ghost")), DUE_MS, ()),
    Case("remove_only_arms_nothing", (remove("u1", T0_MS),), _AFTER_ALL_MS, ()),
    Case("view_only_arms_nothing", (view("u1", T0_MS),), _AFTER_ALL_MS, ()),
    Case("purchase_then_add_re_arms", (add("u1", T0_MS), purchase("u1", T0_MS + 1, [item("p1", 10.0)]), add("u1", T0_MS + 2, "p2")), _AFTER_ALL_MS, (DUE_MS + 2,)),
    Case("partial_purchase_disarms_the_rest", (add("u1", T0_MS, "p1"), add("u1", T0_MS, "p2"), purchase("u1", T0_MS + 1, [item("p1", 10.0)])), _AFTER_ALL_MS, ()),
    Case("empty_then_add_arms_from_the_add", (add("u1", T0_MS), remove("u1", T0_MS + 1), add("u1", T0_MS + 5 * MINUTE_MS)), _AFTER_ALL_MS, (DUE_MS + 5 * MINUTE_MS,)),
    Case("add_after_fired_is_the_same_cart", (add("u1", T0_MS), add("u1", DUE_MS + 1, "p2")), _AFTER_ALL_MS, (DUE_MS,)),
    Case("same_cart_again_after_a_day", (add("u1", T0_MS), add("u1", DUE_MS + DAY_MS, "p2")), _AFTER_ALL_MS, (DUE_MS, DUE_MS + DAY_MS + DELAY_MS)),
    Case("new_cart_after_purchase_is_reminded", (add("u1", T0_MS), purchase("u1", DUE_MS + 1, [item("p1", 10.0)]), add("u1", DUE_MS + 2, "p2")), _AFTER_ALL_MS, (DUE_MS, DUE_MS + 2 + DELAY_MS)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_timing_table(case: Case):
    engine = new_engine()
    triggers = feed(engine, case.events)
    triggers += engine.advance(case.advance_to_ms)
    assert tuple(trigger.ts_ms for trigger in triggers) == case.expect_trigger_ms
    assert all(trigger.rule == RULE and trigger.user_id == "u1" for trigger in triggers)


def test_purchase_at_due_comes_too_late_and_the_trigger_shows_the_full_cart():
    engine = new_engine()
    first = add("u1", T0_MS, "p1", 10.0)
    engine.on_event(first)
    trigger, conversion = engine.on_event(purchase("u1", DUE_MS, [item("p1", 10.0)]))
    assert conversion.trigger_id == trigger.trigger_id  # the late purchase converts the reminder
    assert trigger.ts_ms == DUE_MS
    assert trigger.trigger_id == trigger_id_for("u1", RULE, first.event_id)
    assert trigger.payload["item_count"] == 1  # the timer fired before the purchase was applied
    assert engine.store["u1"].profile.cart == {}  # and then the purchase was applied
    assert engine.advance(_AFTER_ALL_MS) == []


def test_purchase_at_due_minus_1_leaves_nothing_pending():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS))
    assert engine.on_event(purchase("u1", DUE_MS - 1, [item("p1", 10.0)])) == []
    assert engine.store["u1"].timers == {}
    assert engine.advance(DUE_MS) == []


# --- re-arming and cause --------------------------------------------------------------------


def test_each_cart_change_re_arms_from_the_latest_change():
    engine = new_engine()
    changes = [
        add("u1", T0_MS, "p1", 10.0),
        add("u1", T0_MS + 5 * MINUTE_MS, "p2", 20.0),
        remove("u1", T0_MS + 12 * MINUTE_MS, "p1", 10.0),
        add("u1", T0_MS + 20 * MINUTE_MS, "p3", 1.0, 3),
    ]
    for change in changes:
        assert engine.on_event(change) == []
        timer = engine.store["u1"].timers[RULE]
        assert (timer.due_ms, timer.cause) == (change.ts_ms + DELAY_MS, change.event_id)

    latest = changes[-1]
    for earlier in changes[:-1]:
        assert engine.advance(earlier.ts_ms + DELAY_MS) == []  # superseded deadlines pass quietly
    assert engine.advance(latest.ts_ms + DELAY_MS - 1) == []
    [trigger] = engine.advance(latest.ts_ms + DELAY_MS)
    assert trigger.ts_ms == latest.ts_ms + DELAY_MS
    assert trigger.trigger_id == trigger_id_for("u1", RULE, latest.event_id)
    assert trigger.trigger_id != trigger_id_for("u1", RULE, changes[0].event_id)
    assert trigger.payload["last_cart_change"] == format_rfc3339(latest.ts_ms)


def test_view_does_not_change_the_cause():
    engine = new_engine()
    first = add("u1", T0_MS)
    engine.on_event(first)
    engine.on_event(view("u1", T0_MS + MINUTE_MS, "p9"))
    [trigger] = engine.advance(DUE_MS)
    assert trigger.trigger_id == trigger_id_for("u1", RULE, first.event_id)


# --- the trigger ----------------------------------------------------------------------------


def test_trigger_payload_is_exact():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS, "p1", 19.99, 2))
    engine.on_event(add("u1", T0_MS + MINUTE_MS, "p2", 5.01, 1, category="socks"))
    engine.on_event(add("u1", T0_MS + 2 * MINUTE_MS, "p1", 17.5, 1))  # price drop: quote the latest
    last = remove("u1", T0_MS + 3 * MINUTE_MS, "p3", 1.0)  # absent product: still a cart change
    engine.on_event(last)
    due = last.ts_ms + DELAY_MS
    [trigger] = engine.advance(due)
    assert trigger.ts_ms == due
    assert trigger.channel == "push"
    assert trigger.payload == {
        "items": [
            {"product_id": "p1", "category": "shoes", "price": 17.5, "quantity": 3},
            {"product_id": "p2", "category": "socks", "price": 5.01, "quantity": 1},
        ],
        "item_count": 4,
        "value": 57.51,
        "last_cart_change": format_rfc3339(last.ts_ms),
    }
    assert trigger.reason == "4 item(s) worth 57.51 left in the cart for 30 min without a purchase"
    assert trigger.trigger_id == trigger_id_for("u1", RULE, last.event_id)


def test_trigger_value_is_rounded_to_cents():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS, "a", 0.1))
    engine.on_event(add("u1", T0_MS, "b", 0.2))
    [trigger] = engine.advance(DUE_MS)
    assert trigger.payload["value"] == 0.3
    assert "worth 0.30" in trigger.reason


def test_trigger_uses_the_configured_channel_and_delay():
    config = cart_book(5 * MINUTE_MS, "email")
    engine = PartitionEngine(store={}, book=config)
    engine.on_event(add("u1", T0_MS))
    assert engine.advance(T0_MS + 5 * MINUTE_MS - 1) == []
    [trigger] = engine.advance(T0_MS + 5 * MINUTE_MS)
    assert trigger.channel == "email"
    assert "for 5 min" in trigger.reason
    assert trigger.payload["last_cart_change"] == format_rfc3339(T0_MS)


def test_trigger_wire_form():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS))
    [trigger] = engine.advance(DUE_MS)
    wire = trigger.to_wire(emitted_at_ms=DUE_MS + 7)
    assert wire["ts"] == "2026-11-25T09:30:00.000Z"
    assert wire["emitted_at"] == "2026-11-25T09:30:00.007Z"
    assert wire["trigger_id"] == trigger.trigger_id and wire["rule"] == RULE


# --- determinism ----------------------------------------------------------------------------


def scenario():
    return [
        add("u1", T0_MS, "p1", 10.0),
        add("u2", T0_MS + 1, "p2", 20.0),
        add("u1", T0_MS + 2 * MINUTE_MS, "p3", 5.0),
        add("u3", T0_MS + 3 * MINUTE_MS, "p1", 10.0),
        purchase("u3", T0_MS + 4 * MINUTE_MS, [item("p1", 10.0)]),
        purchase("u2", T0_MS + 50 * MINUTE_MS, [item("p2", 20.0)]),  # after its reminder: a new cart follows
        add("u2", T0_MS + 51 * MINUTE_MS, "p4", 1.0),
    ]


def run(events) -> list:
    engine = new_engine()
    return feed(engine, events) + [t for t in engine.advance(T0_MS + 1000 * MINUTE_MS) if isinstance(t, Trigger)]


def test_same_input_gives_the_same_trigger_ids():
    first, second = run(scenario()), run(scenario())
    assert [t.trigger_id for t in first] == [t.trigger_id for t in second]
    assert first == second
    assert [(t.user_id, t.ts_ms) for t in first] == [
        ("u2", T0_MS + 1 + DELAY_MS),  # fired by u2's own purchase at +50 min
        ("u1", T0_MS + 2 * MINUTE_MS + DELAY_MS),
        ("u2", T0_MS + 51 * MINUTE_MS + DELAY_MS),
    ]
    assert len({t.trigger_id for t in first}) == 3


def test_trigger_ids_are_distinct_per_user_and_cause():
    assert trigger_id_for("u1", RULE, "e1") != trigger_id_for("u2", RULE, "e1")
    assert trigger_id_for("u1", RULE, "e1") != trigger_id_for("u1", "other_rule", "e1")


# --- late events and shared clocks ----------------------------------------------------------


def test_late_event_arming_an_already_due_timer_fires_at_once():
    engine = new_engine()
    engine.on_event(view("u2", T0_MS + 2 * DELAY_MS))  # the partition clock is far ahead
    late = add("u1", T0_MS, "p1", 10.0)
    [trigger] = engine.on_event(late)
    assert trigger.user_id == "u1"
    assert trigger.ts_ms == DUE_MS  # the event-time deadline, not the clock
    assert trigger.trigger_id == trigger_id_for("u1", RULE, late.event_id)
    assert engine.clock_ms == T0_MS + 2 * DELAY_MS
    assert engine.store["u1"].timers == {}
    assert engine.advance(T0_MS + 3 * DELAY_MS) == []


def test_late_event_arming_a_timer_not_yet_due_waits():
    engine = new_engine()
    engine.on_event(view("u2", T0_MS + 10 * MINUTE_MS))
    assert engine.on_event(add("u1", T0_MS)) == []
    assert engine.advance(DUE_MS - 1) == []
    assert [t.ts_ms for t in engine.advance(DUE_MS)] == [DUE_MS]


def test_late_cart_change_does_not_pull_the_deadline_before_a_later_change():
    # A cart changed at +10 min was not "left untouched for 30 min" at +30 min. A late add
    # stamped +0 (offset order within `clicks`, producer clock skew) must not move the deadline
    # back to +30 min; the reminder is due 30 min after the latest change, at +40 min.
    engine = new_engine()
    engine.on_event(add("u1", T0_MS + 10 * MINUTE_MS, "p1", 10.0))
    engine.on_event(add("u1", T0_MS, "p2", 20.0))  # arrives later, happened earlier
    assert engine.advance(DUE_MS) == []
    [trigger] = engine.advance(T0_MS + 40 * MINUTE_MS)
    assert trigger.ts_ms == T0_MS + 40 * MINUTE_MS
    assert trigger.payload["value"] == 30.0


def test_late_purchase_does_not_cancel_a_reminder_armed_after_it():
    engine = new_engine()
    engine.on_event(add("u1", T0_MS + 10 * MINUTE_MS, "p1", 10.0))
    engine.on_event(purchase("u1", T0_MS + 5 * MINUTE_MS, [item("p9", 5.0)]))
    [trigger] = engine.advance(T0_MS + 40 * MINUTE_MS)
    assert [line["product_id"] for line in trigger.payload["items"]] == ["p1"]


def test_one_users_event_advances_the_clock_that_fires_anothers_timer():
    engine = new_engine()
    cause = add("alice", T0_MS, "p1", 10.0)
    engine.on_event(cause)
    assert engine.on_event(view("bob", DUE_MS - 1)) == []
    [trigger] = engine.on_event(view("bob", DUE_MS))
    assert trigger.user_id == "alice"
    assert trigger.ts_ms == DUE_MS
    assert trigger.trigger_id == trigger_id_for("alice", RULE, cause.event_id)
    assert engine.store["bob"].profile.counts == {"view": 2}


def test_two_users_timers_fire_in_due_order_and_independently():
    engine = new_engine()
    engine.on_event(add("alice", T0_MS))
    engine.on_event(add("bob", T0_MS + MINUTE_MS))
    engine.on_event(purchase("alice", T0_MS + 2 * MINUTE_MS, [item("p1", 10.0)]))  # only alice's
    triggers = engine.advance(T0_MS + 5 * DELAY_MS)
    assert [(t.user_id, t.ts_ms) for t in triggers] == [("bob", DUE_MS + MINUTE_MS)]


def test_one_advance_fires_several_users_in_due_order():
    engine = new_engine()
    engine.on_event(add("b", T0_MS + 2))
    engine.on_event(add("a", T0_MS + 1))  # late, but within the clock
    engine.on_event(add("c", T0_MS + 3))
    assert [(t.user_id, t.ts_ms) for t in engine.advance(DUE_MS + 3)] == [
        ("a", DUE_MS + 1),
        ("b", DUE_MS + 2),
        ("c", DUE_MS + 3),
    ]


def test_every_cart_change_pushes_the_reminder_back_and_the_queue_holds_one_entry_for_it():
    # The models off: a sampled session start would queue its label timer too (streams/predictions.py).
    engine = PartitionEngine(store={}, book=dataclasses.replace(CONFIG, models=Models(enabled=False)))
    changes = [add("u1", T0_MS + minute * MINUTE_MS, f"p{minute}") for minute in range(10)]
    feed(engine, changes)
    assert engine.pending_timers == 1  # not one per change
    last_due_ms = changes[-1].ts_ms + DELAY_MS
    assert engine.advance(last_due_ms - 1) == []
    [trigger] = engine.advance(last_due_ms)
    assert trigger.trigger_id == trigger_id_for("u1", RULE, changes[-1].event_id)


def test_timers_due_together_fire_in_the_same_order_after_a_restore():
    """Ties go by user id, not by the order timers were armed or restored in."""
    first = new_engine()
    feed(first, [add(user, T0_MS) for user in ("carol", "alice", "bob")])
    copied = {user: UserState.from_dict(state.to_dict()) for user, state in reversed(first.store.items())}
    second = new_engine(copied)
    second.restore(copied.values())
    assert [t.user_id for t in first.advance(DUE_MS)] == ["alice", "bob", "carol"]
    assert [t.user_id for t in second.advance(DUE_MS)] == ["alice", "bob", "carol"]


# --- restore --------------------------------------------------------------------------------


def test_restore_fires_the_pending_timer_and_resumes_the_clock():
    first = new_engine()
    cause = add("u1", T0_MS, "p1", 12.5, 2)
    feed(
        first,
        [
            cause,
            view("u1", T0_MS + 4 * MINUTE_MS),
            add("u2", T0_MS + 6 * MINUTE_MS, "p2", 3.0),
            remove("u2", T0_MS + 7 * MINUTE_MS, "p2", 3.0),  # u2's cart is empty: nothing pending
        ],
    )
    assert set(first.store["u1"].timers) == {RULE} and first.store["u2"].timers == {}
    # What a changelog would hold, taken before the first engine fires anything.
    copied = {user: UserState.from_dict(state.to_dict()) for user, state in first.store.items()}
    expected = first.advance(DUE_MS)

    second = new_engine(copied)
    second.restore(copied.values())
    assert second.clock_ms is None  # it starts again with the first event applied
    assert second.restored_ms == T0_MS + 7 * MINUTE_MS  # the latest last_seen among restored users
    assert second.advance(DUE_MS - 1) == []
    [trigger] = second.advance(DUE_MS)
    assert [trigger] == expected
    assert trigger.ts_ms == DUE_MS
    assert trigger.trigger_id == trigger_id_for("u1", RULE, cause.event_id)
    assert trigger.payload["value"] == 25.0
    assert second.advance(DUE_MS + DELAY_MS) == []


def test_after_a_restore_an_event_read_again_is_applied_before_the_timers_it_cancels():
    """A restart reads again what was not committed, and the state it restores can be ahead of that
    for other users. Resuming the clock at the latest restored event fired u1's reminder before
    u1's purchase, read again, could cancel it."""
    store: dict[str, UserState] = {}
    engine = new_engine(store)
    engine.on_event(add("u1", T0_MS))
    engine.on_event(view("u2", DUE_MS + MINUTE_MS))  # u2's record reached the changelog; the rest did not
    copied = {user: UserState.from_dict(state.to_dict()) for user, state in store.items()}
    restored = new_engine(copied)
    restored.restore(copied.values())
    assert restored.on_event(purchase("u1", DUE_MS - 1, [item("p1", 10.0)])) == []  # read again: cancels
    assert restored.on_event(view("u2", DUE_MS + MINUTE_MS)) == []
    assert restored.advance(DUE_MS + DELAY_MS) == []


def test_restored_engine_still_honours_a_cancel_after_restore():
    store = {}
    engine = new_engine(store)
    engine.on_event(add("u1", T0_MS))
    copied = {user: UserState.from_dict(state.to_dict()) for user, state in store.items()}
    restored = new_engine(copied)
    restored.restore(copied.values())
    assert restored.on_event(purchase("u1", DUE_MS - 1, [item("p1", 10.0)])) == []
    assert restored.advance(DUE_MS + DELAY_MS) == []


def test_restore_of_nothing_leaves_the_clock_unset():
    engine = new_engine()
    engine.restore([])
    assert engine.clock_ms is None
    assert engine.pending_timers == 0
