"""timed_promotion through the partition engine: a window [start, end), a segment filter, an offer.

The window below opens at 10:00Z on T0's day and closes two days later; an eligible user gets
the offer on their first event inside it, once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from builders import MINUTE_MS, T0_MS, add, consent, item, promotion_rule, purchase, rule_book, run, search, view
from schemas.outputs import Suppression, SuppressionReason, Trigger, trigger_id_for
from streams.config import DAY_MS, HOUR_MS
from streams.lifecycle import Stage
from streams.partition import PartitionEngine
from streams.rules.spec import NO_GUARDRAILS, QuietHours, SegmentFilter, SendAt
from streams.rules.timed_promotion import next_local_hour_ms

RULE = "black_friday"
START_MS = T0_MS + HOUR_MS  # 2026-11-25T10:00:00Z
END_MS = START_MS + 2 * DAY_MS  # exclusive
OFFER = {"code": "BF20", "percent_off": 20}


def new_engine(*, start_ms: int = START_MS, end_ms: int = END_MS, **params) -> PartitionEngine:
    params.setdefault("offer", OFFER)
    return PartitionEngine(store={}, book=rule_book(promotion_rule(RULE, start_ms, end_ms, **params)))


# --- the window -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_ms", "expect_trigger_ms"),
    [
        (START_MS - 1, None),
        (START_MS, START_MS),  # start is inclusive
        (START_MS + 1, START_MS + 1),
        (END_MS - 1, END_MS - 1),
        (END_MS, None),  # end is exclusive
        (END_MS + DAY_MS, None),
    ],
)
def test_the_first_event_inside_the_window_triggers_at_once(event_ms: int, expect_trigger_ms: int | None):
    engine = new_engine()
    outputs = engine.on_event(view("u1", event_ms))  # the trigger comes with the event, no timer
    assert [t.ts_ms for t in outputs] == ([] if expect_trigger_ms is None else [expect_trigger_ms])
    assert engine.store["u1"].timers == {}
    assert engine.advance(END_MS + 3 * DAY_MS) == []


def test_any_activity_counts_but_a_consent_does_not():
    for first in [search("u1", START_MS, "socks"), purchase("u1", START_MS, [item("p1", 5.0)])]:
        assert [t.ts_ms for t in new_engine().on_event(first) if isinstance(t, Trigger)] == [START_MS]
    engine = new_engine()
    assert engine.on_event(consent("u1", START_MS, "push")) == []
    assert [t.ts_ms for t in engine.on_event(view("u1", START_MS + 1))] == [START_MS + 1]


def test_only_once_per_campaign():
    engine = new_engine()
    outputs = run(engine, [view("u1", START_MS - 1), view("u1", START_MS + 5), view("u1", START_MS + HOUR_MS), view("u1", END_MS - 1)])
    assert [(t.ts_ms, t.trigger_id) for t in outputs] == [(START_MS + 5, trigger_id_for("u1", RULE, RULE))]


def test_each_user_gets_it_once():
    engine = new_engine()
    outputs = run(engine, [view("u1", START_MS), view("u2", START_MS + 1), view("u1", START_MS + 2), view("u2", START_MS + 3)])
    assert [(t.user_id, t.ts_ms) for t in outputs] == [("u1", START_MS), ("u2", START_MS + 1)]
    assert outputs[0].trigger_id != outputs[1].trigger_id


def test_payload_carries_offer_and_window():
    [trigger] = new_engine().on_event(view("u1", START_MS))
    assert trigger.rule == RULE and trigger.channel == "push"
    assert trigger.payload == {
        "campaign": RULE,
        "offer": OFFER,
        "window": {"start": "2026-11-25T10:00:00.000Z", "end": "2026-11-27T10:00:00.000Z"},
    }
    assert trigger.reason == f"eligible for campaign {RULE} while it runs"
    assert trigger.trigger_id == trigger_id_for("u1", RULE, RULE)


# --- the segment filter ---------------------------------------------------------------------


def _customers(count: int, at_ms: int) -> tuple:
    """One order each from ``count`` other users: enough for RFM scores to exist (20)."""
    return tuple(purchase(f"c{i:02d}", at_ms + i, [item("x", 10.0)]) for i in range(count))


_WEEK_AGO_MS = START_MS - 8 * DAY_MS
_BARGAINS = SegmentFilter(price_sensitivity=("bargain_hunter",))
_CHAMPION = _customers(20, _WEEK_AGO_MS) + tuple(purchase("u1", START_MS - DAY_MS + i * HOUR_MS, [item("p1", 50.0)]) for i in range(3))


@dataclass(frozen=True)
class SegmentCase:
    name: str
    segment: SegmentFilter
    history: tuple  # before the window opens
    fires: bool


SEGMENT_CASES = [
    SegmentCase("empty_filter_allows_anyone", SegmentFilter(), (), True),
    SegmentCase("lifecycle_met", SegmentFilter(lifecycle=("active", "loyal")), (view("u1", _WEEK_AGO_MS),), True),
    SegmentCase("lifecycle_unmet_new_user", SegmentFilter(lifecycle=("active", "loyal")), (), False),
    SegmentCase("lifecycle_new_met", SegmentFilter(lifecycle=("new",)), (), True),
    SegmentCase("rfm_met", SegmentFilter(rfm=("champions",)), _CHAMPION, True),
    SegmentCase("rfm_unmet_without_orders", SegmentFilter(rfm=("champions",)), _customers(20, _WEEK_AGO_MS), False),
    SegmentCase("rfm_unmet_other_segment", SegmentFilter(rfm=("hibernating",)), _CHAMPION, False),
    SegmentCase("top_category_met", SegmentFilter(top_category=("shoes", "bags")), (), True),
    SegmentCase(
        "top_category_unmet",
        SegmentFilter(top_category=("shoes",)),
        tuple(view("u1", START_MS - HOUR_MS + i, f"b{i}", category="books") for i in range(2)),
        False,
    ),
    SegmentCase("price_sensitivity_met", _BARGAINS, (purchase("u1", START_MS - DAY_MS, [item("p1", 10.0)], coupon="C"),), True),
    SegmentCase("price_sensitivity_unmet_regular", _BARGAINS, (purchase("u1", START_MS - DAY_MS, [item("p1", 10.0)]),), False),
    SegmentCase("price_sensitivity_unmet_no_orders", _BARGAINS, (), False),
    SegmentCase("consent_met_by_default", SegmentFilter(consent="email"), (), True),
    SegmentCase("consent_met_explicitly", SegmentFilter(consent="email"), (consent("u1", START_MS - DAY_MS, "email", True),), True),
    SegmentCase("consent_unmet_channel", SegmentFilter(consent="email"), (consent("u1", START_MS - DAY_MS, "email", False),), False),
    SegmentCase("consent_unmet_all", SegmentFilter(consent="email"), (consent("u1", START_MS - DAY_MS, "all", False),), False),
    SegmentCase("consent_of_another_channel_is_irrelevant", SegmentFilter(consent="email"), (consent("u1", START_MS - DAY_MS, "sms", False),), True),
    SegmentCase(
        "every_criterion_must_hold",
        SegmentFilter(lifecycle=("active",), top_category=("shoes",), consent="email"),
        (view("u1", _WEEK_AGO_MS), consent("u1", START_MS - DAY_MS, "email", False)),
        False,
    ),
]


@pytest.mark.parametrize("case", SEGMENT_CASES, ids=[case.name for case in SEGMENT_CASES])
def test_segment_filter(case: SegmentCase):
    engine = new_engine(segment=case.segment)
    assert run(engine, case.history) == []
    outputs = run(engine, [view("u1", START_MS)], END_MS + DAY_MS)
    # An unmet segment is not a suppression: the user is simply not in the campaign.
    assert [(type(o), o.user_id, o.ts_ms) for o in outputs] == ([(Trigger, "u1", START_MS)] if case.fires else [])


def test_segment_fixtures_are_what_they_claim():
    engine = new_engine()
    run(engine, _CHAMPION)
    assert engine.store["u1"].profile.rfm_segment == "champions"
    engine = new_engine()
    run(engine, [view("u1", _WEEK_AGO_MS), view("u1", START_MS - 1)])
    assert engine.store["u1"].profile.stage is Stage.ACTIVE


def test_the_segment_is_checked_at_each_event_until_the_user_qualifies():
    engine = new_engine(segment=SegmentFilter(top_category=("books",)))
    assert engine.on_event(view("u1", START_MS)) == []  # shoes is the top category
    [trigger] = engine.on_event(add("u1", START_MS + 5, "b1", category="books"))  # now books is
    assert trigger.ts_ms == START_MS + 5


# --- send_at: best_hour ---------------------------------------------------------------------

OFFSET_MIN = 60  # UTC+1
# Three evenings at 18:xx local (17:xx UTC) on the days before T0: the user's best hour is 18.
EVENINGS = tuple(view("u1", T0_MS + 8 * HOUR_MS - day * DAY_MS + day * MINUTE_MS, utc_offset_min=OFFSET_MIN) for day in (1, 2, 3))
SIX_PM_LOCAL_MS = T0_MS + 8 * HOUR_MS  # 2026-11-25T17:00:00Z is 18:00 at UTC+1


def best_hour_engine(*, end_ms: int, **params) -> PartitionEngine:
    engine = new_engine(start_ms=T0_MS, end_ms=end_ms, send_at=SendAt.BEST_HOUR, **params)
    assert run(engine, EVENINGS) == []
    assert engine.store["u1"].profile.best_send_hour() == 18
    return engine


@pytest.mark.parametrize(
    ("event_ms", "end_ms", "expect_ms"),
    [
        (T0_MS, SIX_PM_LOCAL_MS + 1, SIX_PM_LOCAL_MS),  # 10:00 local: later today at 18:00 local
        (T0_MS, SIX_PM_LOCAL_MS, T0_MS),  # 18:00 local would be at the window's end: at once instead
        (T0_MS, SIX_PM_LOCAL_MS - 1, T0_MS),
        (SIX_PM_LOCAL_MS, T0_MS + 3 * DAY_MS, SIX_PM_LOCAL_MS),  # at 18:00 local sharp: at once
        (SIX_PM_LOCAL_MS + 1, T0_MS + 3 * DAY_MS, SIX_PM_LOCAL_MS + DAY_MS),  # just missed it: tomorrow
        (SIX_PM_LOCAL_MS + 1, SIX_PM_LOCAL_MS + DAY_MS, SIX_PM_LOCAL_MS + 1),  # tomorrow's is at the end
    ],
)
def test_best_hour_schedules_at_the_next_local_best_hour_inside_the_window(event_ms: int, end_ms: int, expect_ms: int):
    engine = best_hour_engine(end_ms=end_ms)
    at_event = engine.on_event(view("u1", event_ms, utc_offset_min=OFFSET_MIN))
    if expect_ms == event_ms:
        assert [t.ts_ms for t in at_event] == [event_ms]
        assert engine.store["u1"].timers == {}
    else:
        assert at_event == []
        assert engine.store["u1"].timers[RULE].due_ms == expect_ms
        assert engine.on_event(view("u1", event_ms + 1, utc_offset_min=OFFSET_MIN)) == []  # already scheduled
        assert engine.advance(expect_ms - 1) == []
        [trigger] = engine.advance(expect_ms)
        assert (trigger.ts_ms, trigger.trigger_id) == (expect_ms, trigger_id_for("u1", RULE, RULE))
        assert trigger.payload["offer"] == OFFER
    assert engine.advance(end_ms + DAY_MS) == []


@pytest.mark.parametrize(
    ("meanwhile", "fires"),
    [
        ((), True),
        ((consent("u1", T0_MS + HOUR_MS, "email", False),), False),
        ((consent("u1", T0_MS + HOUR_MS, "email", False), consent("u1", T0_MS + 2 * HOUR_MS, "email", True)), True),
        ((consent("u1", T0_MS + HOUR_MS, "sms", False),), True),
    ],
)
def test_eligibility_is_checked_again_when_the_scheduled_offer_goes_out(meanwhile: tuple, fires: bool):
    engine = best_hour_engine(end_ms=T0_MS + DAY_MS, segment=SegmentFilter(consent="email"))
    assert engine.on_event(view("u1", T0_MS, utc_offset_min=OFFSET_MIN)) == []
    assert run(engine, meanwhile) == []
    outputs = engine.advance(SIX_PM_LOCAL_MS)
    assert [(type(o), o.ts_ms) for o in outputs] == ([(Trigger, SIX_PM_LOCAL_MS)] if fires else [])


def test_a_held_offer_past_the_window_expires():
    # Through the guardrails: an offer held in quiet hours beyond the window's end is stale.
    night_ms = T0_MS + 14 * HOUR_MS  # 23:00Z
    book = rule_book(promotion_rule(RULE, night_ms, night_ms + HOUR_MS, offer=OFFER), guardrails=replace(NO_GUARDRAILS, quiet_hours=QuietHours()))
    engine = PartitionEngine(store={}, book=book)
    assert engine.on_event(view("u1", night_ms)) == []
    [suppression] = engine.advance(T0_MS + 23 * HOUR_MS)  # 08:00Z
    assert isinstance(suppression, Suppression)
    assert (suppression.reason, suppression.trigger.ts_ms) == (SuppressionReason.EXPIRED, T0_MS + 23 * HOUR_MS)


def test_next_local_hour_by_hand():
    # T0 is 09:00Z, 10:00 at UTC+1.
    assert next_local_hour_ms(T0_MS, 18, 60) == T0_MS + 8 * HOUR_MS
    assert next_local_hour_ms(T0_MS, 10, 60) == T0_MS  # it is 10:00 local now
    assert next_local_hour_ms(T0_MS + 1, 10, 60) == T0_MS + DAY_MS
    assert next_local_hour_ms(T0_MS, 9, 60) == T0_MS + 23 * HOUR_MS
    assert next_local_hour_ms(T0_MS, 0, -300) == T0_MS + 20 * HOUR_MS  # 04:00 at UTC-5: midnight is 20 h away
