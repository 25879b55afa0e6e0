"""win_back through the partition engine: silence moves a user to at_risk on the daily sweep
(UTC midnight), and that move earns one message naming their favourite categories; staying
silent to churned earns one more, with the stronger offer.

How much silence: 3x the user's usual gap between visits, within 7 and 60 days; 30 days for a
user with fewer than 3 known gaps (the first tests here: a single visit). Churned: 3x that.
The sweep that does it is the first UTC midnight at or after last_seen + the threshold that the
partition clock passes; any user's event (or ``advance``) moves that clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from builders import T0_MS, add, cart_book, consent, item, purchase, rule_book, run, view, win_back_rule
from schemas.outputs import Output, Trigger, trigger_id_for
from schemas.timestamps import format_rfc3339
from streams.config import DAY_MS, HOUR_MS, MINUTE_MS, ProfileConfig
from streams.lifecycle import Stage
from streams.partition import PartitionEngine
from streams.rules.spec import NO_GUARDRAILS, QuietHours, RuleKind, RuleSpec, Variant, WinBackParams

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
    assert trigger.payload == {"top_categories": ["shoes"], "last_seen": format_rfc3339(LAST_SEEN_MS), "stage": "at_risk"}
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


def test_exactly_one_at_risk_and_one_churned_per_spell():
    engine = new_engine()
    assert len(run(engine, HISTORY, SWEEP_MS)) == 1
    for day in range(1, 60):  # every later sweep while at_risk
        assert engine.advance(SWEEP_MS + day * DAY_MS) == []
    assert engine.store["u1"].profile.stage is Stage.AT_RISK
    churn_sweep_ms = MIDNIGHT0_MS + 91 * DAY_MS  # the first midnight at or after last_seen + 90 d
    [churned] = engine.advance(churn_sweep_ms)
    assert churned.trigger_id == trigger_id_for("u1", RULE, f"churned@{LAST_SEEN_MS}")
    assert churned.payload["stage"] == "churned" and "offer" not in churned.payload  # no churned_offer given
    assert churned.reason == "no activity for 90 days, 3x the 30 days that put them at risk"
    assert engine.store["u1"].profile.stage is Stage.CHURNED
    for day in range(1, 60):
        assert engine.advance(churn_sweep_ms + day * DAY_MS) == []


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
    churned = engine.advance(back_ms - 1)
    assert [t.payload["stage"] for t in churned] == ([] if stage_before is Stage.AT_RISK else ["churned"])
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


# --- adaptive thresholds: the user's own usual gap between visits ---------------------------

LAST_MS = MIDNIGHT0_MS + 100 * DAY_MS  # every case's last visit, at a midnight: its thresholds fall on sweeps


def visits(gaps_ms: tuple[int, ...], *, user: str = "u1", last_ms: int = LAST_MS) -> list:
    """One view per visit, the last at ``last_ms``, ``gaps_ms`` apart (each a session of its own)."""
    times = [last_ms]
    for gap_ms in reversed(gaps_ms):
        times.insert(0, times[0] - gap_ms)
    return [view(user, ts_ms, f"p{n}") for n, ts_ms in enumerate(times)]


def triggers(outputs: list[Output]) -> list[Trigger]:
    return [output for output in outputs if isinstance(output, Trigger)]


@dataclass(frozen=True)
class Case:
    name: str
    gaps_days: tuple[float, ...]
    at_risk_days: int  # after the last visit
    churned_days: int
    reason: str  # the at-risk message's
    stage_by: str  # the profile's once at_risk
    params: dict = field(default_factory=dict)


CASES = [
    Case("weekly_3x_7d", (7, 7, 7), 21, 63, "no activity for 21 days, 3x their usual 7 days between visits",
         "win_back: silent 21 d or more, 3x their usual 7 d between visits"),
    Case("daily_bounded_below_at_7d_not_3d", (1, 1, 1, 1), 7, 21,
         "no activity for 7 days, the least this rule waits (3x their usual 1 day between visits is less)",
         "win_back: silent 7 d or more, the least this rule waits (3x their usual 1 d between visits is less)"),
    Case("rare_bounded_above_at_60d_not_90d", (30, 30, 30), 60, 180,
         "no activity for 60 days, the most this rule waits (3x their usual 30 days between visits is more)",
         "win_back: silent 60 d or more, the most this rule waits (3x their usual 30 d between visits is more)"),
    Case("two_gaps_too_few_fixed_30d", (7, 7), 30, 90, "no activity for 30 days after being active",
         "win_back: silent 30 d or more, fewer than 3 gaps between visits known"),
    Case("the_median_not_the_mean", (2, 5, 5, 40), 15, 45, "no activity for 15 days, 3x their usual 5 days between visits",
         "win_back: silent 15 d or more, 3x their usual 5 d between visits"),
    Case("an_even_count_takes_the_middle_two", (4, 6, 8, 10), 21, 63, "no activity for 21 days, 3x their usual 7 days between visits",
         "win_back: silent 21 d or more, 3x their usual 7 d between visits"),
    Case("a_second_session_within_a_day_is_the_same_visit", (7, 0.5, 6.5, 7), 21, 63,
         "no activity for 21 days, 3x their usual 7 days between visits", "win_back: silent 21 d or more, 3x their usual 7 d between visits"),
    Case("only_the_latest_8_gaps", (1,) * 4 + (10,) * 8, 30, 90, "no activity for 30 days, 3x their usual 10 days between visits",
         "win_back: silent 30 d or more, 3x their usual 10 d between visits"),
    Case("multiple_2", (7, 7, 7), 14, 42, "no activity for 14 days, 2x their usual 7 days between visits",
         "win_back: silent 14 d or more, 2x their usual 7 d between visits", {"multiple": 2.0}),
    Case("churn_multiple_2", (7, 7, 7), 21, 42, "no activity for 21 days, 3x their usual 7 days between visits",
         "win_back: silent 21 d or more, 3x their usual 7 d between visits", {"churn_multiple": 2.0}),
    Case("min_gaps_1", (4,), 12, 36, "no activity for 12 days, 3x their usual 4 days between visits",
         "win_back: silent 12 d or more, 3x their usual 4 d between visits", {"min_gaps": 1}),
    Case("the_fixed_30d_within_the_bounds", (), 20, 60, "no activity for 20 days after being active",
         "win_back: silent 20 d or more, the bound nearest the fixed 30 d, fewer than 3 gaps between visits known", {"at_most_ms": 20 * DAY_MS}),
    Case("bounds_of_whole_days_only_on_sweeps", (7, 7, 7), 10, 30, "no activity for 10 days, the most this rule waits (3x their usual 7 days between visits is more)",
         "win_back: silent 10 d or more, the most this rule waits (3x their usual 7 d between visits is more)", {"at_least_ms": 2 * DAY_MS, "at_most_ms": 10 * DAY_MS}),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_at_risk_then_churned_at_the_users_own_thresholds(case: Case):
    engine = new_engine(**case.params)
    run(engine, visits(tuple(round(days * DAY_MS) for days in case.gaps_days)))  # long gaps win the user back on the way
    at_risk_ms, churned_ms = LAST_MS + case.at_risk_days * DAY_MS, LAST_MS + case.churned_days * DAY_MS
    assert engine.advance(at_risk_ms - 1) == []  # swept a day short
    profile = engine.store["u1"].profile
    assert profile.stage in (Stage.ACTIVE, Stage.NEW) and profile.stage_by is None
    [at_risk] = engine.advance(at_risk_ms)
    assert (at_risk.ts_ms, at_risk.payload["stage"], at_risk.reason) == (at_risk_ms, "at_risk", case.reason)
    assert at_risk.trigger_id == trigger_id_for("u1", RULE, f"at_risk@{LAST_MS}")
    assert (profile.stage, profile.stage_by) == (Stage.AT_RISK, case.stage_by)
    assert engine.advance(churned_ms - 1) == []  # every sweep in between: once per spell
    [churned] = engine.advance(churned_ms)
    assert (churned.ts_ms, churned.payload["stage"]) == (churned_ms, "churned")
    assert churned.trigger_id == trigger_id_for("u1", RULE, f"churned@{LAST_MS}")
    assert profile.stage is Stage.CHURNED and profile.stage_by.startswith(f"win_back: silent {case.churned_days} d or more, ")
    assert engine.advance(churned_ms + 400 * DAY_MS) == []


WEEKLY = visits((7 * DAY_MS,) * 3)


def test_the_profile_says_why_and_shows_the_usual_gap():
    engine = new_engine()
    run(engine, WEEKLY, LAST_MS + 63 * DAY_MS)
    profile = engine.store["u1"].profile
    assert profile.stage_by == "win_back: silent 63 d or more, 3x the 21 d that put them at risk (3x their usual 7 d between visits)"
    shown = profile.view(now_ms=LAST_MS + 63 * DAY_MS, config=ProfileConfig())
    assert shown["lifecycle_stage"] == "churned" and shown["lifecycle_stage_by"] == profile.stage_by
    assert shown["visits"] == {"gaps_known": 3, "usual_gap_days": 7.0, "last_started": format_rfc3339(LAST_MS)}
    engine.on_event(view("u1", LAST_MS + 70 * DAY_MS))  # back: no longer explained by silence
    assert engine.store["u1"].profile.stage_by is None


def test_a_user_who_jumps_straight_to_churned_gets_the_churned_message_only():
    engine = new_engine(churned_offer={"discount_pct": 15})
    outputs = run(engine, WEEKLY, LAST_MS + 63 * DAY_MS + 5 * HOUR_MS)  # the worker was down: one sweep, at day 63
    [churned] = triggers(outputs)
    assert (churned.ts_ms, churned.payload["stage"], churned.payload["offer"]) == (LAST_MS + 63 * DAY_MS, "churned", {"discount_pct": 15})
    assert churned.reason == "no activity for 63 days, 3x the 21 days that put them at risk"
    assert engine.advance(LAST_MS + 200 * DAY_MS) == []


def test_the_churned_offer_replaces_the_rules_offer_in_the_churned_message_only():
    rule = replace(win_back_rule(churned_offer={"discount_pct": 20}), offer={"code": "MISSYOU"})
    engine = PartitionEngine(store={}, book=rule_book(rule))
    at_risk, churned = run(engine, WEEKLY, LAST_MS + 21 * DAY_MS) + engine.advance(LAST_MS + 63 * DAY_MS)
    assert at_risk.payload["offer"] == {"code": "MISSYOU"}
    assert churned.payload["offer"] == {"discount_pct": 20}


@pytest.mark.parametrize(
    ("back_days", "first_stages"),
    [(22, ["at_risk"]), (62, ["at_risk"]), (64, ["at_risk", "churned"])],
)
def test_coming_back_ends_the_spell_and_the_next_spell_fires_again_with_new_ids(back_days: int, first_stages: list[str]):
    engine = new_engine()
    back_ms = LAST_MS + back_days * DAY_MS  # at a midnight, after that sweep
    first = triggers(run(engine, WEEKLY, LAST_MS + 21 * DAY_MS) + engine.advance(back_ms))
    assert [t.payload["stage"] for t in first] == first_stages
    assert engine.on_event(view("u1", back_ms, "p-back")) == []
    state = engine.store["u1"]
    assert state.profile.stage is Stage.ACTIVE and not [key for key in state.fired if key.startswith("win_back")]
    # The return is a visit too: gaps 7, 7, 7 and back_days, median 7 still.
    assert engine.advance(back_ms + 21 * DAY_MS - 1) == []
    [again] = engine.advance(back_ms + 21 * DAY_MS)
    assert again.trigger_id == trigger_id_for("u1", RULE, f"at_risk@{back_ms}")
    assert again.trigger_id not in {t.trigger_id for t in first}
    [churned] = engine.advance(back_ms + 63 * DAY_MS)
    assert churned.trigger_id == trigger_id_for("u1", RULE, f"churned@{back_ms}")


def test_a_consent_does_not_end_the_spell():
    engine = new_engine()
    [at_risk] = run(engine, WEEKLY, LAST_MS + 21 * DAY_MS)
    assert engine.on_event(consent("u1", LAST_MS + 30 * DAY_MS, "email", True)) == []
    assert engine.advance(LAST_MS + 63 * DAY_MS - 1) == []  # no second at-risk message
    [churned] = engine.advance(LAST_MS + 63 * DAY_MS)
    assert churned.payload["stage"] == "churned" and churned.trigger_id == trigger_id_for("u1", RULE, f"churned@{LAST_MS}")


NIGHT = replace(NO_GUARDRAILS, quiet_hours=QuietHours(start_min=22 * 60, end_min=8 * 60))


@pytest.mark.parametrize(("stage", "days"), [("at_risk", 21), ("churned", 63)])
def test_a_message_held_for_quiet_hours_keeps_its_id_and_stage(stage: str, days: int):
    engine = PartitionEngine(store={}, book=rule_book(win_back_rule(), guardrails=NIGHT))
    sweep_ms = LAST_MS + days * DAY_MS  # 00:00 at UTC, the user's offset: quiet
    outputs = run(engine, WEEKLY, sweep_ms - 1) + engine.advance(sweep_ms)
    assert [t.payload["stage"] for t in triggers(outputs)] == ([] if stage == "at_risk" else ["at_risk"])
    assert engine.advance(sweep_ms + 8 * HOUR_MS - 1) == []
    [held] = engine.advance(sweep_ms + 8 * HOUR_MS)
    assert (held.ts_ms, held.payload["stage"]) == (sweep_ms + 8 * HOUR_MS, stage)
    assert held.trigger_id == trigger_id_for("u1", RULE, f"{stage}@{LAST_MS}")
    later = triggers(engine.advance(sweep_ms + 100 * DAY_MS + 8 * HOUR_MS))  # one sweep, at day 100, and its morning
    assert [t.payload["stage"] for t in later] == ([] if stage == "churned" else ["churned"])


def test_coming_back_while_a_message_is_held_cancels_it():
    engine = PartitionEngine(store={}, book=rule_book(win_back_rule(), guardrails=NIGHT))
    assert run(engine, WEEKLY, LAST_MS + 21 * DAY_MS) == []  # held till 08:00
    assert engine.on_event(view("u1", LAST_MS + 21 * DAY_MS + HOUR_MS, "p-back")) == []
    assert engine.advance(LAST_MS + 21 * DAY_MS + 9 * HOUR_MS) == []


def test_a_late_event_neither_ends_the_spell_nor_starts_one():
    engine = new_engine()
    [at_risk] = run(engine, WEEKLY, LAST_MS + 21 * DAY_MS)
    # 25 days silent: past the user's own 21, short of the fixed 30. A late event (older than
    # their last visit) is no return: the spell goes on, and no second at-risk message follows.
    engine.on_event(view("u2", LAST_MS + 25 * DAY_MS))
    assert engine.on_event(view("u1", LAST_MS - HOUR_MS, "p-late")) == []
    assert engine.store["u1"].profile.stage is Stage.AT_RISK
    assert engine.store["u1"].profile.stage_by == "win_back: silent 21 d or more, 3x their usual 7 d between visits"
    outputs = engine.advance(LAST_MS + 63 * DAY_MS)
    assert [t.payload["stage"] for t in triggers(outputs) if t.user_id == "u1"] == ["churned"]


def test_a_late_event_leaves_moving_into_silence_to_the_sweep():
    engine = new_engine()
    last_ms = LAST_MS + 12 * HOUR_MS  # at noon: 21 days on falls between two sweeps
    run(engine, visits((7 * DAY_MS,) * 3, last_ms=last_ms))
    assert engine.on_event(view("u2", last_ms + 21 * DAY_MS + HOUR_MS)) == []  # swept at 20.5 d
    assert engine.on_event(view("u1", last_ms - HOUR_MS, "p-late")) == []  # 21 d and 2 h late
    assert engine.store["u1"].profile.stage is Stage.ACTIVE
    [at_risk] = engine.advance(last_ms + 21 * DAY_MS + 12 * HOUR_MS)  # the next sweep moves them, and the rule answers
    assert (at_risk.user_id, at_risk.payload["stage"]) == ("u1", "at_risk")


def test_each_user_gets_the_thresholds_of_their_variant():
    def spec(variant: str | None, multiple: float) -> RuleSpec:
        return RuleSpec(RULE, RuleKind.WIN_BACK, "email", WinBackParams(multiple=multiple), variant=variant)

    rule = replace(spec(None, 3.0), variants=(Variant("patient", 1.0, spec("patient", 3.0)), Variant("eager", 1.0, spec("eager", 2.0))))
    engine = PartitionEngine(store={}, book=rule_book(rule))
    users = [f"u{n}" for n in range(12)]
    run(engine, [event for user in users for event in visits((7 * DAY_MS,) * 3, user=user)])
    eager = {t.user_id: t for t in triggers(engine.advance(LAST_MS + 14 * DAY_MS))}
    patient = {t.user_id: t for t in triggers(engine.advance(LAST_MS + 21 * DAY_MS))}
    assert eager and patient and set(eager) | set(patient) == set(users)
    assert {t.variant for t in eager.values()} == {"eager"} and {t.variant for t in patient.values()} == {"patient"}
    some = next(iter(eager))
    assert engine.store[some].profile.stage_by == "win_back (eager): silent 14 d or more, 2x their usual 7 d between visits"


def test_without_a_win_back_rule_the_fixed_stages_hold():
    engine = PartitionEngine(store={}, book=cart_book())
    run(engine, WEEKLY, LAST_MS + 30 * DAY_MS - 1)
    profile = engine.store["u1"].profile
    assert profile.stage is Stage.ACTIVE  # 3x their 7 days passed long ago
    engine.advance(LAST_MS + 30 * DAY_MS)
    assert (profile.stage, profile.stage_by) == (Stage.AT_RISK, None)
    engine.advance(LAST_MS + 90 * DAY_MS - 1)
    assert profile.stage is Stage.AT_RISK
    engine.advance(LAST_MS + 90 * DAY_MS)
    assert (profile.stage, profile.stage_by) == (Stage.CHURNED, None)
