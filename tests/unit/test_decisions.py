"""Why, and why not (streams/decisions.py): each decision a rule takes about a user, at its exact
event time, as the trace and ``GET /profiles/{user}/decisions`` show it."""

from __future__ import annotations

import pytest

from builders import T0_MS, add, cart_book, erasure, interest_rule, item, purchase, remove, rule_book, run, view
from streams import decisions
from streams.config import DAY_MS, HOUR_MS, MINUTE_MS
from streams.partition import PartitionEngine
from streams.rules.spec import Guardrails
from streams.state import DECISIONS_KEEP_MS, MAX_DECISIONS

CART_DUE_MS = T0_MS + 30 * MINUTE_MS


def trace(engine: PartitionEngine, user: str = "u1") -> list[tuple[int, str, str, str]]:
    return [(ts_ms, rule, outcome, reason) for ts_ms, rule, outcome, reason, _ in engine.store[user].decisions]


@pytest.mark.parametrize(
    ("label", "events", "expected"),
    [
        ("sent", [add("u1", T0_MS)], [(CART_DUE_MS, "abandoned_cart", "sent", "on push: 1 item(s) worth 10.00 left in the cart for 30 min without a purchase")]),
        ("cancelled by a purchase", [add("u1", T0_MS), purchase("u1", CART_DUE_MS - 1, [item("p1", 10.0)])],
         [(CART_DUE_MS - 1, "abandoned_cart", "cancelled", "bought before the reminder was due")]),
        ("cancelled by an emptied cart", [add("u1", T0_MS), remove("u1", T0_MS + MINUTE_MS)],
         [(T0_MS + MINUTE_MS, "abandoned_cart", "cancelled", "the cart was emptied")]),
        ("a purchase at the deadline comes too late", [add("u1", T0_MS), purchase("u1", CART_DUE_MS, [item("p1", 10.0)])],
         [(CART_DUE_MS, "abandoned_cart", "sent", "on push: 1 item(s) worth 10.00 left in the cart for 30 min without a purchase")]),
    ],
)
def test_the_cart_reminder_s_decisions(label: str, events: list, expected: list):
    engine = PartitionEngine(store={}, book=cart_book())
    run(engine, events, advance_to_ms=T0_MS + DAY_MS)
    assert trace(engine) == expected, label


def test_a_guardrail_s_suppression_and_a_quiet_hours_hold_in_the_user_s_own_time():
    held_out = PartitionEngine(store={}, book=cart_book(guardrails=Guardrails(holdout_fraction=1.0, frequency_cap=None, quiet_hours=None)))
    run(held_out, [add("u1", T0_MS)], advance_to_ms=T0_MS + DAY_MS)
    assert trace(held_out) == [(CART_DUE_MS, "abandoned_cart", "suppressed", "holdout: " + decisions.GUARDRAIL_WORDS[decisions.SuppressionReason.HOLDOUT])]
    night_ms = T0_MS + 13 * HOUR_MS  # 22:00 UTC, 23:00 at UTC+1: quiet until 08:00 local, 07:00 UTC
    quiet = PartitionEngine(store={}, book=cart_book(guardrails=Guardrails(holdout_fraction=0.0, frequency_cap=None)))
    run(quiet, [add("u1", night_ms, utc_offset_min=60)], advance_to_ms=night_ms + DAY_MS)
    morning_ms = T0_MS + 22 * HOUR_MS
    assert [(ts, outcome) for ts, _, outcome, _ in trace(quiet)] == [(night_ms + 30 * MINUTE_MS, "held"), (morning_ms, "sent")]
    assert trace(quiet)[0][3] == "quiet hours: held until 2026-11-26T08:00:00.000+01:00, their local time"
    [sent, held] = decisions.view(quiet.store["u1"])  # newest first, in their offset
    assert (sent["at"], held["at"]) == ("2026-11-26T08:00:00.000+01:00", "2026-11-25T23:30:00.000+01:00")


def test_an_interest_that_fell_short_is_one_line_that_follows_it():
    engine = PartitionEngine(store={}, book=rule_book(interest_rule()))
    run(engine, [view("u1", T0_MS, "s1"), view("u1", T0_MS + MINUTE_MS, "s2"), view("u1", T0_MS + 40 * MINUTE_MS, "s3"), view("u1", T0_MS + 41 * MINUTE_MS, "s4")])
    assert trace(engine) == [
        (T0_MS + 41 * MINUTE_MS, "abandoned_interest", "fell_short", "shoes: 2 of 3 views within 30m, no interest yet")
    ]  # the second spell's, in place of the first's: same rule, same category


def test_a_due_interest_dropped_for_low_affinity_or_once_per():
    engine = PartitionEngine(store={}, book=rule_book(interest_rule(affinity_threshold=100.0)))
    run(engine, [view("u1", T0_MS + n * MINUTE_MS, f"s{n}") for n in range(3)], advance_to_ms=T0_MS + DAY_MS)
    [short, (ts_ms, _, outcome, reason)] = trace(engine)
    assert short[:3] == (T0_MS + MINUTE_MS, "abandoned_interest", "fell_short")  # 2 of 3 views, before the third came
    assert (ts_ms, outcome, reason) == (T0_MS + 22 * MINUTE_MS, "dropped", "shoes: affinity 2.97, not above 100 any more")
    engine = PartitionEngine(store={}, book=rule_book(interest_rule()))
    spells = [view("u1", T0_MS + n * MINUTE_MS, f"s{n}") for n in range(3)] + [view("u1", T0_MS + HOUR_MS + n * MINUTE_MS, f"t{n}") for n in range(3)]
    run(engine, spells, advance_to_ms=T0_MS + DAY_MS)
    assert [((ts_ms - T0_MS) // MINUTE_MS, outcome) for ts_ms, _, outcome, _ in trace(engine)] == [(1, "fell_short"), (22, "sent"), (61, "fell_short"), (82, "dropped")]
    assert trace(engine)[3][3] == "shoes: one went out less than 1d ago (once_per)"


def test_the_trace_is_bounded_and_forgets_the_old_and_goes_with_the_user():
    engine = PartitionEngine(store={}, book=cart_book())
    carts = [event for n in range(MAX_DECISIONS + 5) for event in (add("u1", T0_MS + n * HOUR_MS, f"p{n}"), remove("u1", T0_MS + n * HOUR_MS + 1, f"p{n}"))]
    run(engine, carts)
    assert len(engine.store["u1"].decisions) == MAX_DECISIONS and trace(engine)[0][0] == T0_MS + 5 * HOUR_MS + 1
    later_ms = T0_MS + (MAX_DECISIONS + 5) * HOUR_MS + DECISIONS_KEEP_MS
    run(engine, [add("u1", later_ms, "late"), remove("u1", later_ms + 1, "late")])
    assert [ts_ms for ts_ms, *_ in trace(engine)] == [later_ms + 1]  # the 30-day-old ones went
    run(engine, [erasure("u1", later_ms + 2)])
    assert "u1" not in engine.store
