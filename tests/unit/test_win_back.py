"""win_back through the partition engine: 30 days of silence move a user to at_risk on the daily
sweep (UTC midnight), and that move earns exactly one message naming their favourite categories.

The sweep that does it is the first UTC midnight at or after last_seen + 30 days that the
partition clock passes; any user's event (or ``advance``) moves that clock.
"""

from __future__ import annotations

import pytest

from builders import T0_MS, add, consent, item, purchase, rule_book, run, view, win_back_rule
from schemas.outputs import Trigger, trigger_id_for
from schemas.timestamps import format_rfc3339
from streams.config import DAY_MS, HOUR_MS, MINUTE_MS
from streams.lifecycle import Stage
from streams.partition import PartitionEngine

RULE = "win_back"
MIDNIGHT0_MS = T0_MS - 9 * HOUR_MS  # 2026-11-25T00:00:00Z
assert MIDNIGHT0_MS % DAY_MS == 0
# u1 is last seen at T0 + 2 min; 30 days later is 2026-12-25T09:02Z, so the sweep that moves
# them is 2026-12-26T00:00Z.
HISTORY = (
    view("u1", T0_MS, "s1"),
    view("u1", T0_MS + MINUTE_MS, "b1", category="books"),
    add("u1", T0_MS + 2 * MINUTE_MS, "s2"),
)
LAST_SEEN_MS = T0_MS + 2 * MINUTE_MS
SWEEP_MS = MIDNIGHT0_MS + 31 * DAY_MS


def new_engine(**params) -> PartitionEngine:
    return PartitionEngine(store={}, book=rule_book(win_back_rule(**params)))


def test_another_users_event_at_the_first_midnight_after_30_days_moves_them():
    engine = new_engine()
    assert run(engine, HISTORY) == []
    assert engine.on_event(view("u2", SWEEP_MS - 1)) == []  # swept at 2026-12-25T00:00Z: 29 d 15 h silent
    assert engine.store["u1"].profile.stage is Stage.ACTIVE
    [trigger] = engine.on_event(view("u2", SWEEP_MS))
    assert isinstance(trigger, Trigger)
    assert (trigger.user_id, trigger.rule, trigger.ts_ms, trigger.channel) == ("u1", RULE, SWEEP_MS, "email")
    assert trigger.payload == {"top_categories": ["shoes"], "last_seen": format_rfc3339(LAST_SEEN_MS)}
    assert trigger.reason == "no activity for 30 days after being active"
    assert trigger.trigger_id == trigger_id_for("u1", RULE, f"at_risk@{LAST_SEEN_MS}")
    assert engine.store["u1"].profile.stage is Stage.AT_RISK


@pytest.mark.parametrize(
    ("last_seen_ms", "sweep_ms"),
    [
        (MIDNIGHT0_MS, MIDNIGHT0_MS + 30 * DAY_MS),  # exactly 30 days of silence at that midnight
        (MIDNIGHT0_MS + 1, MIDNIGHT0_MS + 31 * DAY_MS),  # 1 ms short at that one: the next midnight
        (MIDNIGHT0_MS + DAY_MS - 1, MIDNIGHT0_MS + 31 * DAY_MS),
    ],
)
def test_the_sweep_is_the_first_utc_midnight_at_or_after_last_seen_plus_30_days(last_seen_ms: int, sweep_ms: int):
    engine = new_engine()
    run(engine, [view("u1", last_seen_ms)])
    assert engine.advance(sweep_ms - 1) == []
    [trigger] = engine.advance(sweep_ms)
    assert (trigger.user_id, trigger.ts_ms) == ("u1", sweep_ms)
    assert trigger.trigger_id == trigger_id_for("u1", RULE, f"at_risk@{last_seen_ms}")


def test_top_categories_follow_the_param_strongest_first():
    engine = new_engine(top_categories=2)
    [trigger] = run(engine, HISTORY + (purchase("u1", LAST_SEEN_MS, [item("b2", 3.0, category="books")]),), SWEEP_MS)
    assert trigger.payload["top_categories"] == ["books", "shoes"]  # the purchase weighs 5


def test_exactly_one_per_spell_and_nothing_when_churned():
    engine = new_engine()
    assert len(run(engine, HISTORY, SWEEP_MS)) == 1
    for day in range(1, 60):  # every later sweep while at_risk
        assert engine.advance(SWEEP_MS + day * DAY_MS) == []
    assert engine.store["u1"].profile.stage is Stage.AT_RISK
    churn_sweep_ms = MIDNIGHT0_MS + 91 * DAY_MS
    assert engine.advance(churn_sweep_ms) == []
    assert engine.store["u1"].profile.stage is Stage.CHURNED
    assert engine.advance(churn_sweep_ms + 30 * DAY_MS) == []


def test_a_consent_is_not_coming_back():
    engine = new_engine()
    run(engine, HISTORY, SWEEP_MS)
    assert engine.on_event(consent("u1", SWEEP_MS + DAY_MS, "email", True)) == []
    assert engine.store["u1"].profile.stage is Stage.AT_RISK
    assert engine.advance(SWEEP_MS + 40 * DAY_MS) == []


@pytest.mark.parametrize(("away_days", "stage_before"), [(5, Stage.AT_RISK), (70, Stage.CHURNED)])
def test_coming_back_then_silent_again_fires_again_with_a_new_cause(away_days: int, stage_before: Stage):
    engine = new_engine()
    [first] = run(engine, HISTORY, SWEEP_MS)
    back_ms = SWEEP_MS + away_days * DAY_MS + 10 * HOUR_MS
    assert engine.advance(back_ms - 1) == []
    assert engine.store["u1"].profile.stage is stage_before
    assert engine.on_event(view("u1", back_ms, "s3")) == []
    assert engine.store["u1"].profile.stage in (Stage.ACTIVE, Stage.LOYAL)
    second_sweep_ms = back_ms - back_ms % DAY_MS + 31 * DAY_MS  # back at 10:00Z: the midnight after 30 d
    assert engine.advance(second_sweep_ms - 1) == []
    [second] = engine.advance(second_sweep_ms)
    assert (second.user_id, second.ts_ms) == ("u1", second_sweep_ms)
    assert second.trigger_id == trigger_id_for("u1", RULE, f"at_risk@{back_ms}")
    assert second.trigger_id != first.trigger_id
    assert second.payload["last_seen"] == format_rfc3339(back_ms)


def test_an_active_user_is_never_won_back():
    engine = new_engine()
    outputs = run(engine, [view("u1", T0_MS + day * 29 * DAY_MS) for day in range(5)], T0_MS + 4 * 29 * DAY_MS + 29 * DAY_MS)
    assert outputs == []
