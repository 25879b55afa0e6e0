"""abandoned_interest through the partition engine, with exact event times at every edge.

Interest is 3 views in a category within 30 min, or a search for it plus 1 view within 30 min.
The trigger is due 20 min after the latest interest event; an event at time T first fires every
timer due at or before T, then is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from builders import MINUTE_MS, T0_MS, add, interest_rule, item, purchase, rule_book, run, search, view
from schemas.outputs import Suppression, SuppressionReason, Trigger, trigger_id_for
from schemas.timestamps import format_rfc3339
from streams.config import DAY_MS, HOUR_MS
from streams.partition import PartitionEngine
from streams.rules.spec import NO_GUARDRAILS, AbandonedInterestParams, QuietHours

RULE = "abandoned_interest"
DELAY_MS = 20 * MINUTE_MS
WINDOW_MS = 30 * MINUTE_MS
HALF_LIFE_MS = DAY_MS  # ProfileConfig's interest half-life
INTEREST = (view("u1", T0_MS, "p1"), view("u1", T0_MS + MINUTE_MS, "p2"), view("u1", T0_MS + 2 * MINUTE_MS, "p3"))
LAST_MS = T0_MS + 2 * MINUTE_MS  # the third view makes the interest
DUE_MS = LAST_MS + DELAY_MS
_AFTER_ALL_MS = T0_MS + 3 * HOUR_MS


def new_engine(*, guardrails=NO_GUARDRAILS, **params) -> PartitionEngine:
    return PartitionEngine(store={}, book=rule_book(interest_rule(**params), guardrails=guardrails))


def decayed(weights_at: dict[int, float], now_ms: int) -> float:
    """What a DecayedScores sum of ``weights_at`` (ts -> weight) reads at ``now_ms``."""
    return sum(weight * 2.0 ** (-(now_ms - ts_ms) / HALF_LIFE_MS) for ts_ms, weight in weights_at.items())


def test_default_params():
    params = AbandonedInterestParams()
    assert (params.min_views, params.min_views_after_search, params.window_ms, params.delay_ms) == (3, 1, WINDOW_MS, DELAY_MS)
    assert (params.affinity_threshold, params.top_products, params.once_per_ms, params.max_lateness_ms) == (2.0, 3, DAY_MS, 2 * HOUR_MS)


def test_fires_at_exactly_last_interest_plus_delay_and_not_a_millisecond_before():
    engine = new_engine()
    assert run(engine, INTEREST) == []
    assert engine.advance(DUE_MS - 1) == []
    [trigger] = engine.advance(DUE_MS)
    assert isinstance(trigger, Trigger)
    assert (trigger.ts_ms, trigger.rule, trigger.user_id, trigger.channel) == (DUE_MS, RULE, "u1", "push")
    assert trigger.trigger_id == trigger_id_for("u1", RULE, INTEREST[-1].event_id)
    assert engine.advance(_AFTER_ALL_MS) == []


@dataclass(frozen=True)
class Case:
    name: str
    events: tuple
    expect_trigger_ms: tuple[int, ...]  # ts_ms of every trigger, after the clock reaches _AFTER_ALL_MS


def _views(*offsets_ms: int, category: str = "shoes") -> tuple:
    return tuple(view("u1", T0_MS + offset, f"p{i}", category=category) for i, offset in enumerate(offsets_ms))


def _search(offset_ms: int, category: str | None = "shoes", query: str = "running shoes"):
    return search("u1", T0_MS + offset_ms, query, category=category)


CASES = [
    Case("three_views", INTEREST, (DUE_MS,)),
    Case("two_views", INTEREST[:2], ()),
    Case("two_views_of_the_same_product_plus_one", (view("u1", T0_MS), view("u1", T0_MS + 1), view("u1", T0_MS + 2, "p2")), (T0_MS + 2 + DELAY_MS,)),
    Case("three_views_spanning_exactly_30min", _views(0, 15 * MINUTE_MS, WINDOW_MS), (T0_MS + WINDOW_MS + DELAY_MS,)),
    Case("three_views_spanning_30min_plus_1ms", _views(0, 15 * MINUTE_MS, WINDOW_MS + 1), ()),
    Case("a_fourth_view_completes_a_later_window", _views(0, 15 * MINUTE_MS, WINDOW_MS + 1, 40 * MINUTE_MS), (T0_MS + 60 * MINUTE_MS,)),
    Case("views_in_two_categories_do_not_add_up", _views(0, MINUTE_MS) + _views(2 * MINUTE_MS, category="books"), ()),
    Case("search_then_view_at_30min", (_search(0), view("u1", T0_MS + WINDOW_MS)), (T0_MS + WINDOW_MS + DELAY_MS,)),
    Case("search_then_view_at_30min_plus_1ms", (_search(0), view("u1", T0_MS + WINDOW_MS + 1)), ()),
    Case("view_then_search_at_30min", (view("u1", T0_MS), _search(WINDOW_MS)), (T0_MS + WINDOW_MS + DELAY_MS,)),
    Case("view_then_search_at_30min_plus_1ms", (view("u1", T0_MS), _search(WINDOW_MS + 1)), ()),
    Case("search_alone", (_search(0),), ()),
    Case("unresolved_search_and_a_view", (_search(0, None, "zzyzx"), view("u1", T0_MS + MINUTE_MS)), ()),
    Case("search_for_another_category_and_a_view", (_search(0, "books"), view("u1", T0_MS + MINUTE_MS)), ()),
    Case("add_in_category_1ms_before_due_cancels", INTEREST + (add("u1", DUE_MS - 1, "p9"),), ()),
    Case("add_in_category_at_due_is_too_late", INTEREST + (add("u1", DUE_MS, "p9"),), (DUE_MS,)),
    Case("add_in_another_category_does_not_cancel", INTEREST + (add("u1", DUE_MS - 1, "b1", category="books"),), (DUE_MS,)),
    Case("purchase_in_category_cancels", INTEREST + (purchase("u1", DUE_MS - 1, [item("p9", 5.0)]),), ()),
    Case("purchase_in_another_category_does_not_cancel", INTEREST + (purchase("u1", DUE_MS - 1, [item("b1", 5.0, category="books")]),), (DUE_MS,)),
    Case(
        "purchase_naming_the_category_among_others_cancels",
        INTEREST + (purchase("u1", DUE_MS - 1, [item("b1", 5.0, category="books"), item("p9", 5.0)]),),
        (),
    ),
    Case("view_in_another_category_neither_cancels_nor_re_arms", INTEREST + (view("u1", DUE_MS - 1, "b1", category="books"),), (DUE_MS,)),
    Case("a_further_view_in_category_re_arms", INTEREST + (view("u1", DUE_MS - 1, "p4"),), (DUE_MS - 1 + DELAY_MS,)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_timing_table(case: Case):
    outputs = run(new_engine(), case.events, _AFTER_ALL_MS)
    triggers = [output for output in outputs if isinstance(output, Trigger)]
    assert tuple(trigger.ts_ms for trigger in triggers) == case.expect_trigger_ms
    assert all(trigger.rule == RULE and trigger.payload["category"] == "shoes" for trigger in triggers)
    assert not any(isinstance(output, Suppression) for output in outputs)


def test_interest_through_a_search_is_caused_by_the_event_that_completed_it():
    for events in [(_search(0), view("u1", T0_MS + MINUTE_MS)), (view("u1", T0_MS), _search(MINUTE_MS))]:
        [trigger] = run(new_engine(), events, _AFTER_ALL_MS)
        assert trigger.ts_ms == T0_MS + MINUTE_MS + DELAY_MS
        assert trigger.trigger_id == trigger_id_for("u1", RULE, events[-1].event_id)


def test_a_search_category_learned_from_keywords_counts():
    engine = new_engine()
    teach = [search("u2", T0_MS - HOUR_MS, "trail runners"), view("u2", T0_MS - HOUR_MS + 1, "p1")]  # "trail" -> shoes
    run(engine, teach, T0_MS - 1)
    [trigger] = run(engine, [search("u1", T0_MS, "trail"), view("u1", T0_MS + MINUTE_MS)], _AFTER_ALL_MS)
    assert (trigger.user_id, trigger.ts_ms, trigger.payload["category"]) == ("u1", T0_MS + MINUTE_MS + DELAY_MS, "shoes")


# --- the payload ----------------------------------------------------------------------------


def test_payload_names_the_category_its_three_most_viewed_products_and_the_decayed_affinity():
    # p5 twice; p9, p4 and p3 once each, seen in that order: ties go by product id, not by order.
    offsets = {"p5": (0, 2 * MINUTE_MS), "p9": (MINUTE_MS,), "p4": (3 * MINUTE_MS,), "p3": (4 * MINUTE_MS,)}
    events = sorted((view("u1", T0_MS + at, product) for product, ats in offsets.items() for at in ats), key=lambda e: e.ts_ms)
    last_ms = T0_MS + 4 * MINUTE_MS
    [trigger] = run(new_engine(), events, _AFTER_ALL_MS)
    assert trigger.ts_ms == last_ms + DELAY_MS
    affinity = trigger.payload.pop("affinity")
    assert affinity == pytest.approx(decayed({event.ts_ms: 1.0 for event in events}, last_ms + DELAY_MS), abs=1e-4)
    assert 4.9 < affinity < 5.0  # five views, 20 to 24 minutes old
    assert trigger.payload == {
        "category": "shoes",
        "products": ["p5", "p3", "p4"],
        "last_interest": format_rfc3339(last_ms),
    }
    assert trigger.reason == "showed interest in shoes and left it for 20 min without adding to cart"


def test_payload_lists_fewer_products_when_fewer_were_viewed_and_honours_top_products():
    [trigger] = run(new_engine(), (view("u1", T0_MS, "b"), view("u1", T0_MS + 1, "a"), view("u1", T0_MS + 2, "b")), _AFTER_ALL_MS)
    assert trigger.payload["products"] == ["b", "a"]
    [trigger] = run(new_engine(top_products=1), INTEREST, _AFTER_ALL_MS)
    assert trigger.payload["products"] == ["p1"]


def test_affinity_includes_other_signals_in_the_category():
    # An add to cart in another category does not count; a purchase weeks ago in shoes does, decayed.
    history = [purchase("u1", T0_MS - 2 * DAY_MS, [item("old", 1.0)])]
    [trigger] = run(new_engine(), history + list(INTEREST), _AFTER_ALL_MS)
    weights = {event.ts_ms: 1.0 for event in INTEREST} | {T0_MS - 2 * DAY_MS: 5.0}
    assert trigger.payload["affinity"] == pytest.approx(decayed(weights, DUE_MS), abs=1e-4)


# --- the affinity threshold -----------------------------------------------------------------

_AFFINITY_AT_DUE = decayed({event.ts_ms: 1.0 for event in INTEREST}, DUE_MS)  # about 2.97


@pytest.mark.parametrize(
    ("threshold", "delay_ms", "fires"),
    [
        (2.0, DELAY_MS, True),
        (_AFFINITY_AT_DUE - 0.001, DELAY_MS, True),
        (_AFFINITY_AT_DUE + 0.001, DELAY_MS, False),
        (10.0, DELAY_MS, False),
        # After a day the three views have decayed to half (about 1.48): below the default 2.0.
        (2.0, DAY_MS, False),
        (1.4, DAY_MS, True),
    ],
)
def test_decayed_affinity_at_fire_time_must_exceed_the_threshold(threshold: float, delay_ms: int, fires: bool):
    engine = new_engine(affinity_threshold=threshold, delay_ms=delay_ms, max_lateness_ms=2 * DAY_MS)
    outputs = run(engine, INTEREST, LAST_MS + delay_ms)
    assert [output.ts_ms for output in outputs] == ([LAST_MS + delay_ms] if fires else [])
    if fires:
        assert outputs[0].payload["affinity"] > threshold
    assert engine.store["u1"].timers == {}  # a blocked interest leaves nothing pending
    assert engine.advance(LAST_MS + 3 * DAY_MS) == []


# --- once per (user, category) per 24 h -----------------------------------------------------


@pytest.mark.parametrize(
    ("second_start_ms", "category", "fires_again"),
    [
        (T0_MS + HOUR_MS, "shoes", False),
        (T0_MS + DAY_MS - 1, "shoes", False),  # due 24 h - 1 ms after the first trigger
        (T0_MS + DAY_MS, "shoes", True),  # due exactly 24 h after it
        (T0_MS + HOUR_MS, "books", True),  # once per category, not per user
    ],
)
def test_once_per_user_and_category_per_day(second_start_ms: int, category: str, fires_again: bool):
    engine = new_engine()
    [first] = run(engine, INTEREST, DUE_MS)
    second = tuple(view("u1", second_start_ms + i * MINUTE_MS, f"q{i}", category=category) for i in range(3))
    second_due_ms = second_start_ms + 2 * MINUTE_MS + DELAY_MS
    outputs = run(engine, second, second_due_ms + DAY_MS)
    expected = [(second_due_ms, category, trigger_id_for("u1", RULE, second[-1].event_id))] if fires_again else []
    assert [(t.ts_ms, t.payload["category"], t.trigger_id) for t in outputs] == expected
    assert all(t.trigger_id != first.trigger_id for t in outputs)


def test_another_user_is_not_limited_by_the_first_users_trigger():
    engine = new_engine()
    run(engine, INTEREST, DUE_MS)
    other = [view("u2", T0_MS + HOUR_MS + i * MINUTE_MS, f"p{i}") for i in range(3)]
    assert [(t.user_id, t.ts_ms) for t in run(engine, other, _AFTER_ALL_MS)] == [("u2", T0_MS + HOUR_MS + 22 * MINUTE_MS)]


# --- max lateness ---------------------------------------------------------------------------


def test_held_through_the_night_beyond_two_hours_it_expires():
    # Interest at 22:38-22:40 UTC (offset 0): due 23:00, in quiet hours, held until 08:00 next day.
    engine = new_engine(guardrails=replace(NO_GUARDRAILS, quiet_hours=QuietHours(22 * 60, 8 * 60)))
    start_ms = T0_MS + 13 * HOUR_MS + 38 * MINUTE_MS
    events = tuple(view("u1", start_ms + i * MINUTE_MS, f"p{i}") for i in range(3))
    due_ms = start_ms + 2 * MINUTE_MS + DELAY_MS
    release_ms = T0_MS + 23 * HOUR_MS  # 08:00Z the next day
    assert run(engine, events, due_ms) == []
    assert engine.store["u1"].timers[f"{RULE}/shoes"].due_ms == release_ms
    assert engine.advance(release_ms - 1) == []
    [suppression] = engine.advance(release_ms)
    assert isinstance(suppression, Suppression)
    assert suppression.reason is SuppressionReason.EXPIRED
    assert suppression.trigger.ts_ms == release_ms
    assert suppression.trigger.trigger_id == trigger_id_for("u1", RULE, events[-1].event_id)
    assert suppression.trigger.payload["category"] == "shoes"
    assert engine.advance(release_ms + DAY_MS) == []


@pytest.mark.parametrize(
    ("quiet_end_min", "expected"),
    [
        (11 * 60, Trigger),  # released at last interest + 2 h exactly: still in time
        (11 * 60 + 1, Suppression),  # a minute later: expired
    ],
)
def test_max_lateness_edge(quiet_end_min: int, expected: type):
    # Views at 08:58, 08:59, 09:00 UTC; due 09:20, inside quiet hours 09:00-quiet_end.
    engine = new_engine(guardrails=replace(NO_GUARDRAILS, quiet_hours=QuietHours(9 * 60, quiet_end_min)))
    events = tuple(view("u1", T0_MS - (2 - i) * MINUTE_MS, f"p{i}") for i in range(3))
    release_ms = T0_MS + (quiet_end_min - 9 * 60) * MINUTE_MS
    assert run(engine, events, release_ms - 1) == []
    [output] = engine.advance(release_ms)
    assert isinstance(output, expected)
    trigger = output if isinstance(output, Trigger) else output.trigger
    assert trigger.ts_ms == release_ms
    assert trigger.trigger_id == trigger_id_for("u1", RULE, events[-1].event_id)
    if isinstance(output, Suppression):
        assert output.reason is SuppressionReason.EXPIRED


# --- determinism ----------------------------------------------------------------------------


def scenario():
    return [
        *INTEREST,
        search("u2", T0_MS + MINUTE_MS, "novels", category="books"),
        view("u2", T0_MS + 3 * MINUTE_MS, "b1", category="books"),
        view("u1", T0_MS + 5 * MINUTE_MS, "p4"),  # re-arms u1
        view("u3", T0_MS + 6 * MINUTE_MS, "x"),
    ]


def test_same_input_gives_the_same_trigger_ids():
    first = run(new_engine(), scenario(), _AFTER_ALL_MS)
    second = run(new_engine(), scenario(), _AFTER_ALL_MS)
    assert first == second
    assert [(t.user_id, t.ts_ms, t.trigger_id) for t in first] == [
        ("u2", T0_MS + 23 * MINUTE_MS, trigger_id_for("u2", RULE, "u2:view:b1:" + str(T0_MS + 3 * MINUTE_MS))),
        ("u1", T0_MS + 25 * MINUTE_MS, trigger_id_for("u1", RULE, "u1:view:p4:" + str(T0_MS + 5 * MINUTE_MS))),
    ]
