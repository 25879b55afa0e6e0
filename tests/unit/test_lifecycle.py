"""Lifecycle stages at their exact boundaries, on events and on the partition's daily sweep.

Thresholds: new for 7 days; loyal with 3 orders inside 90 days; at_risk after 30 days of
silence; churned after 90. Every boundary is inclusive: exactly 30 days of silence is at_risk.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from builders import T0_MS, cart_book, item, profile_of, purchase, view
from streams.config import DAY_MS, HOUR_MS
from streams.lifecycle import Stage, lifecycle_stage
from streams.partition import PartitionEngine
from streams.population import Population
from streams.profile import restage
from streams.state import UserState

MIDNIGHT0_MS = T0_MS - 9 * HOUR_MS  # 2026-11-25T00:00:00Z, the UTC midnight before T0
assert MIDNIGHT0_MS % DAY_MS == 0


def stage(*, first_seen_ms: int = T0_MS, last_seen_ms: int = T0_MS, orders: tuple[int, ...] = (), now_ms: int) -> Stage:
    return lifecycle_stage(first_seen_ms=first_seen_ms, last_seen_ms=last_seen_ms, recent_orders_ms=list(orders), now_ms=now_ms)


@dataclass(frozen=True)
class Case:
    name: str
    expected: Stage
    now_ms: int
    last_seen_ms: int = T0_MS
    orders: tuple[int, ...] = ()


_LATE_MS = T0_MS + 100 * DAY_MS  # far enough from first_seen that nobody is new any more

CASES = [
    Case("new_at_first_seen", Stage.NEW, T0_MS),
    Case("new_until_7d_minus_1ms", Stage.NEW, T0_MS + 7 * DAY_MS - 1),
    Case("active_at_7d", Stage.ACTIVE, T0_MS + 7 * DAY_MS),
    Case("one_order_ends_new_at_once", Stage.ACTIVE, T0_MS + 1, T0_MS + 1, (T0_MS + 1,)),
    Case("two_recent_orders_are_active", Stage.ACTIVE, _LATE_MS, _LATE_MS, (_LATE_MS - 2, _LATE_MS - 1)),
    Case("three_orders_within_90d_loyal", Stage.LOYAL, _LATE_MS, _LATE_MS, (_LATE_MS - 89 * DAY_MS, _LATE_MS - DAY_MS, _LATE_MS)),
    Case("third_latest_90d_minus_1ms_loyal", Stage.LOYAL, _LATE_MS, _LATE_MS, (_LATE_MS - 90 * DAY_MS + 1, _LATE_MS - 1, _LATE_MS)),
    Case("third_latest_exactly_90d_active", Stage.ACTIVE, _LATE_MS, _LATE_MS, (_LATE_MS - 90 * DAY_MS, _LATE_MS - 1, _LATE_MS)),
    Case("loyal_looks_at_the_third_latest_only", Stage.LOYAL, _LATE_MS, _LATE_MS, (T0_MS, _LATE_MS - 3, _LATE_MS - 2, _LATE_MS - 1)),
    Case("loyal_orders_in_any_order", Stage.LOYAL, _LATE_MS, _LATE_MS, (_LATE_MS, _LATE_MS - 2, _LATE_MS - 1)),
    Case("silent_30d_minus_1ms_still_active", Stage.ACTIVE, T0_MS + 30 * DAY_MS - 1),
    Case("silent_exactly_30d_at_risk", Stage.AT_RISK, T0_MS + 30 * DAY_MS),
    Case("silent_90d_minus_1ms_at_risk", Stage.AT_RISK, T0_MS + 90 * DAY_MS - 1),
    Case("silent_exactly_90d_churned", Stage.CHURNED, T0_MS + 90 * DAY_MS),
    Case("silence_counts_from_last_seen", Stage.ACTIVE, T0_MS + 59 * DAY_MS, T0_MS + 30 * DAY_MS),
    Case("at_risk_beats_loyal", Stage.AT_RISK, T0_MS + 30 * DAY_MS, T0_MS, (T0_MS - 2, T0_MS - 1, T0_MS)),
    Case("churned_beats_loyal", Stage.CHURNED, T0_MS + 90 * DAY_MS, T0_MS, (T0_MS - 2, T0_MS - 1, T0_MS)),
    Case("loyal_one_ms_before_at_risk", Stage.LOYAL, T0_MS + 30 * DAY_MS - 1, T0_MS, (T0_MS - 2, T0_MS - 1, T0_MS)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_stage_table(case: Case):
    assert stage(last_seen_ms=case.last_seen_ms, orders=case.orders, now_ms=case.now_ms) is case.expected


@pytest.mark.parametrize(
    ("silent_ms", "expected"),
    [
        (21 * DAY_MS - 1, Stage.ACTIVE),
        (21 * DAY_MS, Stage.AT_RISK),  # a win_back rule's threshold, inclusive like the fixed one
        (63 * DAY_MS - 1, Stage.AT_RISK),
        (63 * DAY_MS, Stage.CHURNED),
    ],
)
def test_the_silence_thresholds_may_be_given(silent_ms: int, expected: Stage):
    now_ms = _LATE_MS + silent_ms
    assert lifecycle_stage(T0_MS, _LATE_MS, [], now_ms, at_risk_after_ms=21 * DAY_MS, churned_after_ms=63 * DAY_MS) is expected


def test_a_customer_is_never_new_even_on_day_one():
    assert stage(orders=(T0_MS,), now_ms=T0_MS) is Stage.ACTIVE
    assert stage(orders=(), now_ms=T0_MS) is Stage.NEW


def test_stage_values_are_the_names_marketers_see():
    assert [member.value for member in Stage] == ["new", "active", "loyal", "at_risk", "churned"]


# --- on events ------------------------------------------------------------------------------




def test_profile_is_new_then_active_on_its_own_events():
    assert profile_of(view("u1", T0_MS), view("u1", T0_MS + 7 * DAY_MS - 1)).stage is Stage.NEW
    assert profile_of(view("u1", T0_MS), view("u1", T0_MS + 7 * DAY_MS)).stage is Stage.ACTIVE


def test_profile_turns_loyal_on_its_third_order_within_90_days():
    orders = [purchase("u1", T0_MS + day * DAY_MS, [item("p1", 10.0)]) for day in (0, 40, 89)]
    assert profile_of(*orders[:2]).stage is Stage.ACTIVE
    assert profile_of(*orders).stage is Stage.LOYAL
    spread = [purchase("u1", T0_MS + day * DAY_MS, [item("p1", 10.0)]) for day in (0, 45, 90)]
    assert profile_of(*spread).stage is Stage.ACTIVE


def test_restage_moves_a_quiet_profile_on_and_reports_the_change():
    profile = profile_of(view("u1", T0_MS))
    population = Population()
    assert restage(profile, now_ms=T0_MS + 30 * DAY_MS - 1, population=population) is True  # new -> active
    assert profile.stage is Stage.ACTIVE
    assert restage(profile, now_ms=T0_MS + 30 * DAY_MS - 1, population=population) is False
    assert restage(profile, now_ms=T0_MS + 30 * DAY_MS, population=population) is True
    assert profile.stage is Stage.AT_RISK
    assert restage(profile, now_ms=T0_MS + 90 * DAY_MS, population=population) is True
    assert profile.stage is Stage.CHURNED


def test_restage_never_looks_before_last_seen():
    profile = profile_of(view("u1", T0_MS), view("u1", T0_MS + 8 * DAY_MS))
    restage(profile, now_ms=T0_MS, population=Population())  # a moment before the latest event
    assert profile.stage is Stage.ACTIVE


# --- the daily sweep ------------------------------------------------------------------------


def new_engine() -> PartitionEngine:
    return PartitionEngine(store={}, book=cart_book())


def stage_of(engine: PartitionEngine, user_id: str) -> Stage:
    state: UserState = engine.store[user_id]
    return state.profile.stage


def lifecycle_counts(engine: PartitionEngine) -> dict[str, int]:
    return {name: count for name, count in engine.segments.items() if name.startswith("lifecycle:") and count}


def test_the_sweep_moves_a_silent_user_to_at_risk_at_the_first_midnight_30_days_on():
    engine = new_engine()
    engine.on_event(view("u1", T0_MS))  # 2026-11-25T09:00Z; 30 days on is 2026-12-25T09:00Z
    assert lifecycle_counts(engine) == {"lifecycle:new": 1}
    at_risk_midnight_ms = MIDNIGHT0_MS + 31 * DAY_MS  # 2026-12-26T00:00Z
    engine.on_event(view("u2", at_risk_midnight_ms - 1))  # sweeps at 2026-12-25T00:00Z: 29 d 15 h of silence
    assert stage_of(engine, "u1") is Stage.ACTIVE
    assert lifecycle_counts(engine) == {"lifecycle:active": 1, "lifecycle:new": 1}
    engine.on_event(view("u2", at_risk_midnight_ms))
    assert stage_of(engine, "u1") is Stage.AT_RISK
    assert stage_of(engine, "u2") is Stage.NEW
    assert lifecycle_counts(engine) == {"lifecycle:at_risk": 1, "lifecycle:new": 1}
    assert engine.population.last_sweep_ms == at_risk_midnight_ms


def test_the_sweep_moves_a_new_user_straight_to_at_risk_when_it_is_the_first_one_passed():
    engine = new_engine()
    engine.on_event(view("u1", T0_MS))
    engine.on_event(view("u2", MIDNIGHT0_MS + 31 * DAY_MS + HOUR_MS))  # the only midnight swept is the latest
    assert stage_of(engine, "u1") is Stage.AT_RISK
    assert engine.segments["lifecycle:new"] == 1  # u2 only: u1 left it
    assert engine.segments["lifecycle:at_risk"] == 1


def test_silence_of_exactly_30_days_at_midnight_is_at_risk_at_that_sweep():
    engine = new_engine()
    last_seen_ms = MIDNIGHT0_MS + DAY_MS  # u1 is last seen exactly at a midnight
    engine.on_event(view("u1", last_seen_ms))
    engine.on_event(view("u2", last_seen_ms + 30 * DAY_MS - 1))  # sweeps at last_seen + 29 d
    assert stage_of(engine, "u1") is Stage.ACTIVE
    engine.on_event(view("u2", last_seen_ms + 30 * DAY_MS))  # sweeps at last_seen + 30 d exactly
    assert stage_of(engine, "u1") is Stage.AT_RISK


def test_the_sweep_churns_after_90_days_and_the_user_comes_back_on_their_own_event():
    engine = new_engine()
    engine.on_event(view("u1", MIDNIGHT0_MS))
    engine.on_event(view("u2", MIDNIGHT0_MS + 90 * DAY_MS - 1))
    assert stage_of(engine, "u1") is Stage.AT_RISK
    engine.on_event(view("u2", MIDNIGHT0_MS + 90 * DAY_MS))
    assert stage_of(engine, "u1") is Stage.CHURNED
    assert engine.segments["lifecycle:churned"] == 1
    engine.on_event(view("u1", MIDNIGHT0_MS + 90 * DAY_MS + 1))
    assert stage_of(engine, "u1") is Stage.ACTIVE
    assert engine.segments["lifecycle:churned"] == 0
    assert engine.segments["lifecycle:active"] == 1


def test_no_sweep_before_the_clock_reaches_a_midnight():
    engine = new_engine()
    engine.on_event(view("u1", T0_MS))
    engine.on_event(view("u2", MIDNIGHT0_MS + DAY_MS - 1))
    assert engine.population.last_sweep_ms == MIDNIGHT0_MS
    engine.advance(MIDNIGHT0_MS + DAY_MS)
    assert engine.population.last_sweep_ms == MIDNIGHT0_MS + DAY_MS


def test_advance_alone_runs_the_sweep():
    engine = new_engine()
    engine.on_event(view("u1", T0_MS))
    engine.advance(MIDNIGHT0_MS + 31 * DAY_MS)
    assert stage_of(engine, "u1") is Stage.AT_RISK
    assert lifecycle_counts(engine) == {"lifecycle:at_risk": 1}


def test_a_late_event_is_staged_at_the_partition_clock_not_at_its_own_time():
    engine = new_engine()
    engine.on_event(view("u1", T0_MS + HOUR_MS))
    engine.on_event(view("u2", MIDNIGHT0_MS + 31 * DAY_MS))  # the sweep at that midnight finds u1 silent for 30 d
    assert engine.store["u1"].profile.stage is Stage.AT_RISK
    engine.on_event(view("u1", T0_MS))  # late: older than anything u1 did
    assert engine.store["u1"].profile.stage is Stage.AT_RISK
    assert engine.segments["lifecycle:at_risk"] == 1 and engine.segments["lifecycle:new"] == 1
