"""The guardrails every candidate trigger passes, in order: consent, holdout, frequency cap,
quiet hours; each test turns on only the guardrail it is about (on top of NO_GUARDRAILS)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from builders import MINUTE_MS, T0_MS, add, cart_book, consent, item, promotion_rule, purchase, rule_book, run, view, win_back_rule
from schemas.outputs import Suppression, SuppressionReason, Trigger, trigger_id_for
from schemas.timestamps import format_rfc3339
from streams.config import DAY_MS, HOUR_MS
from streams.partition import PartitionEngine
from streams.rules.guardrails import in_holdout, quiet_until_ms
from streams.rules.spec import NO_GUARDRAILS, AbandonedCartParams, Guardrails, QuietHours, RuleBook, RuleKind, RuleSpec

MIDNIGHT0_MS = T0_MS - 9 * HOUR_MS  # 2026-11-25T00:00:00Z
NIGHT = QuietHours(start_min=22 * 60, end_min=8 * 60)
CART = "abandoned_cart"
CART_DELAY_MS = 30 * MINUTE_MS


def decisions(outputs) -> list[tuple[str, str, int]]:
    """(rule, "sent" or the suppression reason, ts_ms) of every trigger decision."""
    result = []
    for output in outputs:
        if isinstance(output, Trigger):
            result.append((output.rule, "sent", output.ts_ms))
        elif isinstance(output, Suppression):
            result.append((output.trigger.rule, output.reason.value, output.trigger.ts_ms))
    return result


def test_defaults():
    guardrails = Guardrails()
    assert guardrails.holdout_fraction == 0.10
    assert (guardrails.frequency_cap, guardrails.frequency_window_ms) == (3, DAY_MS)
    assert guardrails.quiet_hours == QuietHours(start_min=22 * 60, end_min=8 * 60)
    assert guardrails.attribution_window_ms == DAY_MS
    assert RuleBook(()).guardrails == guardrails
    assert (NO_GUARDRAILS.holdout_fraction, NO_GUARDRAILS.frequency_cap, NO_GUARDRAILS.quiet_hours) == (0.0, None, None)


# --- the order ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderCase:
    name: str
    no_consent: bool
    holdout: bool
    capped: bool
    night: bool
    expected: str  # the decision at the event: "sent", a suppression reason, or "held"
    morning: str = "sent"  # when held for the night: the decision once quiet hours end


ORDER_CASES = [
    OrderCase("nothing_applies", False, False, False, False, "sent"),
    OrderCase("no_consent", True, False, False, False, "no_consent"),
    OrderCase("holdout", False, True, False, False, "holdout"),
    OrderCase("capped", False, False, True, False, "frequency_cap"),
    OrderCase("night", False, False, False, True, "held"),
    OrderCase("consent_before_holdout", True, True, False, False, "no_consent"),
    OrderCase("consent_before_everything", True, True, True, True, "no_consent"),
    OrderCase("cap_before_holdout", False, True, True, False, "frequency_cap"),
    OrderCase("cap_before_night_and_holdout", False, True, True, True, "frequency_cap"),
    OrderCase("cap_before_night", False, False, True, True, "frequency_cap"),
    OrderCase("night_before_holdout", False, True, False, True, "held", morning="holdout"),
]


@pytest.mark.parametrize("case", ORDER_CASES, ids=[case.name for case in ORDER_CASES])
def test_order_of_guardrails(case: OrderCase):
    # "warmup" (sms, at 09:00Z) uses up a cap of 1; "target" (push) runs for two days from its event.
    target_ms = T0_MS + (14 if case.night else 1) * HOUR_MS  # 23:00Z or 10:00Z, user at UTC
    warmup = promotion_rule("warmup", T0_MS, T0_MS + 1, channel="sms")
    target = promotion_rule("target", target_ms, target_ms + 2 * DAY_MS, channel="push", holdout_fraction=1.0 if case.holdout else 0.0)
    guardrails = Guardrails(holdout_fraction=0.0, frequency_cap=1 if case.capped else None, quiet_hours=NIGHT)
    engine = PartitionEngine(store={}, book=rule_book(warmup, target, guardrails=guardrails))
    history = [consent("u1", T0_MS - 1, "push", False)] if case.no_consent else []
    assert decisions(run(engine, history + [view("u1", T0_MS)])) == [("warmup", "sent", T0_MS)]
    at_event = decisions(engine.on_event(view("u1", target_ms)))
    if case.expected == "held":
        assert at_event == []
        morning_ms = MIDNIGHT0_MS + DAY_MS + 8 * HOUR_MS
        assert engine.advance(morning_ms - 1) == []
        assert decisions(engine.advance(morning_ms)) == [("target", case.morning, morning_ms)]
    else:
        assert at_event == [("target", case.expected, target_ms)]
        assert engine.advance(target_ms + 3 * DAY_MS) == []


def test_a_held_out_send_counts_towards_the_cap_as_a_sent_one_does():
    # "warmup" is held out for every user; it still uses up the cap of 1, so "target" is capped,
    # exactly as it would be for a user who was sent the warm-up.
    warmup = promotion_rule("warmup", T0_MS, T0_MS + 1, channel="sms", holdout_fraction=1.0)
    target = promotion_rule("target", T0_MS + HOUR_MS, T0_MS + 2 * DAY_MS, channel="push", holdout_fraction=0.0)
    engine = PartitionEngine(store={}, book=rule_book(warmup, target, guardrails=Guardrails(holdout_fraction=0.0, frequency_cap=1)))
    assert decisions(run(engine, [view("u1", T0_MS)])) == [("warmup", "holdout", T0_MS)]
    assert decisions(engine.on_event(view("u1", T0_MS + HOUR_MS))) == [("target", "frequency_cap", T0_MS + HOUR_MS)]


def test_a_held_out_candidate_that_expires_at_night_is_expired_not_held_out():
    # Held for the night past its deadline: like a treated one, it expires; the holdout never sees it.
    night_ms = T0_MS + 14 * HOUR_MS  # 23:00Z, user at UTC
    target = promotion_rule("target", night_ms, night_ms + HOUR_MS, channel="push", holdout_fraction=1.0)
    engine = PartitionEngine(store={}, book=rule_book(target, guardrails=Guardrails(holdout_fraction=0.0, quiet_hours=NIGHT)))
    assert decisions(run(engine, [view("u1", night_ms)])) == []
    morning_ms = MIDNIGHT0_MS + DAY_MS + 8 * HOUR_MS
    assert decisions(engine.advance(morning_ms)) == [("target", "expired", morning_ms)]


def test_the_suppression_carries_the_trigger_that_would_have_been_sent():
    book = cart_book(guardrails=replace(NO_GUARDRAILS, holdout_fraction=1.0))
    engine = PartitionEngine(store={}, book=book)
    cause = add("u1", T0_MS, "p1", 12.0)
    [suppression] = run(engine, [cause], T0_MS + CART_DELAY_MS)
    assert suppression.reason is SuppressionReason.HOLDOUT
    trigger = suppression.trigger
    assert (trigger.rule, trigger.user_id, trigger.ts_ms) == (CART, "u1", T0_MS + CART_DELAY_MS)
    assert trigger.trigger_id == trigger_id_for("u1", CART, cause.event_id)
    assert trigger.payload["value"] == 12.0


# --- holdout --------------------------------------------------------------------------------

USERS = [f"user-{i}" for i in range(10_000)]
SALT = Guardrails().holdout_salt


def held_out(rule: str, *, fraction: float = 0.10, salt: str = SALT) -> set[str]:
    return {user for user in USERS if in_holdout(user, rule, fraction=fraction, salt=salt)}


def test_holdout_is_roughly_the_configured_fraction():
    for fraction in (0.10, 0.5):
        share = len(held_out(CART, fraction=fraction)) / len(USERS)
        assert fraction - 0.02 <= share <= fraction + 0.02, (fraction, share)
    assert held_out(CART, fraction=0.0) == set()
    assert held_out(CART, fraction=1.0) == set(USERS)


def test_holdout_is_stable_nested_per_rule_and_per_salt():
    cart = held_out(CART)
    assert held_out(CART) == cart  # same answer every time
    assert cart <= held_out(CART, fraction=0.2)  # a larger fraction holds out more of the same users
    other_rule = held_out("win_back")
    other_salt = held_out(CART, salt="nudge-holdout-2")
    for other in (other_rule, other_salt):
        assert 0.08 <= len(other) / len(USERS) <= 0.12
        # Independent draws overlap by about 10 % of 10 %: 1 %, nowhere near the same set.
        assert len(cart & other) < 0.03 * len(USERS)


def test_a_holdout_user_gets_a_suppression_and_the_others_a_trigger():
    guardrails = replace(NO_GUARDRAILS, holdout_fraction=0.10)
    held = next(user for user in USERS if in_holdout(user, CART, fraction=0.10, salt=SALT))
    sent = next(user for user in USERS if not in_holdout(user, CART, fraction=0.10, salt=SALT))
    engine = PartitionEngine(store={}, book=cart_book(guardrails=guardrails))
    outputs = run(engine, [add(held, T0_MS), add(sent, T0_MS)], T0_MS + CART_DELAY_MS)
    assert sorted((o.trigger.user_id if isinstance(o, Suppression) else o.user_id, type(o).__name__) for o in outputs) == sorted(
        [(held, "Suppression"), (sent, "Trigger")]
    )
    [suppression] = [o for o in outputs if isinstance(o, Suppression)]
    assert suppression.reason is SuppressionReason.HOLDOUT
    # A ghost counts towards the frequency cap as the send it stands for does.
    assert engine.store[held].sent_ms == engine.store[sent].sent_ms == [T0_MS + CART_DELAY_MS]


def test_a_changed_salt_changes_who_is_held_out_in_the_engine():
    held = min(held_out(CART) - held_out(CART, salt="other"))
    for salt, expected in [(SALT, Suppression), ("other", Trigger)]:
        engine = PartitionEngine(store={}, book=cart_book(guardrails=replace(NO_GUARDRAILS, holdout_fraction=0.10, holdout_salt=salt)))
        [output] = run(engine, [add(held, T0_MS)], T0_MS + CART_DELAY_MS)
        assert type(output) is expected


@pytest.mark.parametrize(
    ("default_fraction", "rule_fraction", "expected"),
    [
        (0.0, 1.0, Suppression),  # the rule holds everyone out though the default holds none
        (1.0, 0.0, Trigger),  # the rule holds nobody out though the default holds everyone
        (1.0, None, Suppression),  # no override: the default applies
        (0.0, None, Trigger),
    ],
)
def test_per_rule_holdout_override(default_fraction: float, rule_fraction: float | None, expected: type):
    rule = RuleSpec(CART, RuleKind.ABANDONED_CART, "push", AbandonedCartParams(), holdout_fraction=rule_fraction)
    book = RuleBook((rule,), replace(NO_GUARDRAILS, holdout_fraction=default_fraction))
    assert book.holdout_fraction(rule) == (default_fraction if rule_fraction is None else rule_fraction)
    engine = PartitionEngine(store={}, book=book)
    [output] = run(engine, [add("u1", T0_MS)], T0_MS + CART_DELAY_MS)
    assert type(output) is expected


def test_per_rule_override_keeps_the_rule_salted_membership():
    rule = RuleSpec(CART, RuleKind.ABANDONED_CART, "push", AbandonedCartParams(), holdout_fraction=0.5)
    book = RuleBook((rule,), replace(NO_GUARDRAILS, holdout_fraction=0.10))
    engine = PartitionEngine(store={}, book=book)
    users = USERS[:200]
    outputs = run(engine, [add(user, T0_MS + i) for i, user in enumerate(users)], T0_MS + DAY_MS)
    suppressed = {o.trigger.user_id for o in outputs if isinstance(o, Suppression)}
    assert suppressed == {user for user in users if in_holdout(user, CART, fraction=0.5, salt=SALT)}
    assert 70 <= len(suppressed) <= 130


# --- frequency cap --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fifth_ms", "fifth"),
    [
        (T0_MS + DAY_MS - 1, "frequency_cap"),  # the first trigger is still inside (now - 24 h, now]
        (T0_MS + DAY_MS, "sent"),  # exactly 24 h after the first: it has left the window
        (T0_MS + DAY_MS + HOUR_MS - 1, "sent"),
    ],
)
def test_three_per_24h_the_fourth_suppressed(fifth_ms: int, fifth: str):
    # Five one-millisecond campaigns, each triggered by the user's event at its start.
    times = [T0_MS, T0_MS + HOUR_MS, T0_MS + 2 * HOUR_MS, T0_MS + 3 * HOUR_MS, fifth_ms]
    rules = [promotion_rule(f"c{i + 1}", at, at + 1) for i, at in enumerate(times)]
    engine = PartitionEngine(store={}, book=rule_book(*rules, guardrails=replace(NO_GUARDRAILS, frequency_cap=3)))
    outputs = run(engine, [view("u1", at) for at in times])
    assert decisions(outputs) == [
        ("c1", "sent", times[0]),
        ("c2", "sent", times[1]),
        ("c3", "sent", times[2]),
        ("c4", "frequency_cap", times[3]),  # a suppressed trigger does not count against the cap
        ("c5", fifth, fifth_ms),
    ]


def test_the_cap_counts_across_rules_and_users_separately():
    rules = [promotion_rule("promo", T0_MS, T0_MS + DAY_MS)]
    book = RuleBook((*rules, RuleSpec(CART, RuleKind.ABANDONED_CART, "push", AbandonedCartParams())), replace(NO_GUARDRAILS, frequency_cap=1))
    engine = PartitionEngine(store={}, book=book)
    outputs = run(engine, [add("u1", T0_MS), add("u2", T0_MS)], T0_MS + CART_DELAY_MS)
    assert sorted((o.rule if isinstance(o, Trigger) else o.trigger.rule, type(o).__name__) for o in outputs) == [
        (CART, "Suppression"),
        (CART, "Suppression"),
        ("promo", "Trigger"),
        ("promo", "Trigger"),
    ]


@pytest.mark.parametrize(
    ("priorities", "cap", "expected"),
    [
        ({"a_low": 1, "z_high": 5}, 1, [("z_high", "sent"), ("a_low", "frequency_cap")]),
        ({"a_high": 5, "z_low": 1}, 1, [("a_high", "sent"), ("z_low", "frequency_cap")]),
        ({"b": 0, "a": 0}, 1, [("a", "sent"), ("b", "frequency_cap")]),  # equal priority: by name
        ({"low": -1, "mid": 0, "top": 9}, 2, [("top", "sent"), ("mid", "sent"), ("low", "frequency_cap")]),
    ],
)
def test_in_one_step_the_lower_priority_is_suppressed(priorities: dict[str, int], cap: int, expected: list):
    rules = [promotion_rule(name, T0_MS, T0_MS + DAY_MS, priority=priority) for name, priority in priorities.items()]
    engine = PartitionEngine(store={}, book=rule_book(*rules, guardrails=replace(NO_GUARDRAILS, frequency_cap=cap)))
    assert decisions(engine.on_event(view("u1", T0_MS))) == [(rule, decision, T0_MS) for rule, decision in expected]


# --- quiet hours ----------------------------------------------------------------------------

OFFSET_MIN = 120  # UTC+2: 23:00 local is 21:00Z


def local_ms(day: int, hour: int, minute: int = 0, *, offset_min: int = OFFSET_MIN) -> int:
    """The UTC ms of ``hour:minute`` local time on T0's day plus ``day`` days."""
    return MIDNIGHT0_MS + day * DAY_MS + hour * HOUR_MS + minute * MINUTE_MS - offset_min * MINUTE_MS


def quiet_cart_engine() -> PartitionEngine:
    return PartitionEngine(store={}, book=cart_book(guardrails=replace(NO_GUARDRAILS, quiet_hours=NIGHT)))


def test_a_reminder_due_at_night_is_held_until_8_local_with_the_same_id_and_payload():
    engine = quiet_cart_engine()
    cause = add("u1", local_ms(0, 22, 30), "p1", 30.0, utc_offset_min=OFFSET_MIN)
    due_ms = local_ms(0, 23)
    morning_ms = local_ms(1, 8)
    assert run(engine, [cause], due_ms) == []
    timer = engine.store["u1"].timers[CART]
    assert (timer.due_ms, timer.held_from_ms) == (morning_ms, due_ms)
    assert engine.advance(morning_ms - 1) == []
    [trigger] = engine.advance(morning_ms)
    assert isinstance(trigger, Trigger)
    assert trigger.ts_ms == morning_ms
    assert trigger.trigger_id == trigger_id_for("u1", CART, cause.event_id)  # what it would have had at 23:00
    assert trigger.payload["last_cart_change"] == format_rfc3339(cause.ts_ms)  # not 07:30
    assert engine.store["u1"].sent_ms == [morning_ms]
    assert engine.advance(morning_ms + DAY_MS) == []


@pytest.mark.parametrize(
    ("night_event", "expected"),
    [
        (lambda: purchase("u1", local_ms(1, 2), [item("p1", 30.0)], utc_offset_min=OFFSET_MIN), []),
        (lambda: purchase("u1", local_ms(1, 8) - 1, [item("p1", 30.0)], utc_offset_min=OFFSET_MIN), []),
        (lambda: view("u1", local_ms(1, 2), "p7", utc_offset_min=OFFSET_MIN), [local_ms(1, 8)]),  # a view changes nothing
    ],
    ids=["purchase_at_2", "purchase_at_7_59_59_999", "view_at_2"],
)
def test_what_happens_during_the_night(night_event, expected: list[int]):
    engine = quiet_cart_engine()
    run(engine, [add("u1", local_ms(0, 22, 30), "p1", 30.0, utc_offset_min=OFFSET_MIN)], local_ms(0, 23))
    outputs = run(engine, [night_event()], local_ms(2, 12))
    assert [o.ts_ms for o in outputs if isinstance(o, Trigger)] == expected
    assert not any(isinstance(o, Suppression) for o in outputs)


@pytest.mark.parametrize(
    ("due_local", "expect_local"),
    [
        ((0, 21, 59), (0, 21, 59)),
        ((0, 22, 0), (1, 8, 0)),
        ((1, 7, 59), (1, 8, 0)),
        ((1, 8, 0), (1, 8, 0)),
    ],
)
def test_quiet_hours_edges_through_the_engine(due_local: tuple, expect_local: tuple):
    engine = quiet_cart_engine()
    due_ms = local_ms(*due_local)
    run(engine, [add("u1", due_ms - CART_DELAY_MS, utc_offset_min=OFFSET_MIN)])
    outputs = engine.advance(local_ms(2, 12))
    assert [o.ts_ms for o in outputs] == [local_ms(*expect_local)]


@pytest.mark.parametrize(
    ("quiet", "offset_min", "local", "expected_local"),
    [
        (NIGHT, 0, (0, 21, 59), None),
        (NIGHT, 0, (0, 22, 0), (1, 8, 0)),
        (NIGHT, 0, (1, 0, 0), (1, 8, 0)),
        (NIGHT, 0, (1, 7, 59), (1, 8, 0)),
        (NIGHT, 0, (1, 8, 0), None),
        (NIGHT, 120, (0, 21, 59), None),
        (NIGHT, 120, (0, 22, 0), (1, 8, 0)),
        (NIGHT, 120, (1, 7, 59), (1, 8, 0)),
        (NIGHT, 120, (1, 8, 0), None),
        (NIGHT, -300, (0, 22, 0), (1, 8, 0)),
        (NIGHT, -300, (1, 7, 59), (1, 8, 0)),
        (NIGHT, -300, (0, 12, 0), None),
        (QuietHours(13 * 60, 14 * 60), 60, (0, 12, 59), None),  # a window within the day
        (QuietHours(13 * 60, 14 * 60), 60, (0, 13, 0), (0, 14, 0)),
        (QuietHours(13 * 60, 14 * 60), 60, (0, 13, 59), (0, 14, 0)),
        (QuietHours(13 * 60, 14 * 60), 60, (0, 14, 0), None),
    ],
)
def test_quiet_until_ms_edges(quiet: QuietHours, offset_min: int, local: tuple, expected_local: tuple | None):
    now_ms = local_ms(*local, offset_min=offset_min)
    for within_ms in (0, 59_999):  # the whole local minute decides
        expected = None if expected_local is None else local_ms(*expected_local, offset_min=offset_min)
        assert quiet_until_ms(now_ms + within_ms, offset_min, quiet) == expected


def test_a_win_back_swept_at_midnight_waits_for_the_morning():
    book = rule_book(win_back_rule(), guardrails=replace(NO_GUARDRAILS, quiet_hours=NIGHT))
    engine = PartitionEngine(store={}, book=book)
    run(engine, [view("u1", T0_MS)])  # at UTC
    sweep_ms = MIDNIGHT0_MS + 31 * DAY_MS  # 00:00 local: quiet
    assert engine.advance(sweep_ms) == []
    assert engine.advance(sweep_ms + 8 * HOUR_MS - 1) == []
    [trigger] = engine.advance(sweep_ms + 8 * HOUR_MS)
    assert trigger.ts_ms == sweep_ms + 8 * HOUR_MS
    assert trigger.trigger_id == trigger_id_for("u1", "win_back", f"at_risk@{T0_MS}")


def test_a_cart_change_during_quiet_hours_re_arms_the_held_reminder_from_that_change():
    book = cart_book(guardrails=replace(NO_GUARDRAILS, quiet_hours=QuietHours()))
    engine = PartitionEngine(store={}, book=book)
    first_ms = 1_795_725_000_000  # 2026-11-26T20:30:00Z: 22:30 at UTC+2
    engine.on_event(add("u1", first_ms, "p1", utc_offset_min=120))
    second = add("u1", first_ms + 3 * HOUR_MS + 30 * MINUTE_MS, "p2", utc_offset_min=120)  # 02:00 local
    engine.on_event(second)
    # A late purchase of p1, stamped before the p2 add, must not cancel the reminder p2 armed.
    engine.on_event(purchase("u1", first_ms + 2 * HOUR_MS + 30 * MINUTE_MS, [item("p1", 10.0)], utc_offset_min=120))
    [trigger] = [o for o in engine.advance(first_ms + DAY_MS) if isinstance(o, Trigger)]
    assert format_rfc3339(trigger.ts_ms) == "2026-11-27T06:00:00.000Z"  # 08:00 at UTC+2
    assert trigger.trigger_id == trigger_id_for("u1", "abandoned_cart", second.event_id)
    assert trigger.payload["last_cart_change"] == "2026-11-27T00:00:00.000Z"  # the p2 add, 02:00 local
    assert [line["product_id"] for line in trigger.payload["items"]] == ["p2"]


def test_a_held_reminder_fires_before_a_later_timer_when_the_clock_jumps_past_both():
    """One advance across the night, as at the end of an offline replay: u1's reminder, held
    from 23:00 to 08:00, comes out before u2's, due at 08:15, as a clock moving a millisecond at
    a time would have it. At UTC-10 the night holds no UTC midnight, whose sweep would split
    the jump in two."""
    offset_min = -600
    engine = PartitionEngine(store={}, book=cart_book(10 * HOUR_MS, guardrails=replace(NO_GUARDRAILS, quiet_hours=NIGHT)))
    events = [add(user, local_ms(0, *at, offset_min=offset_min), utc_offset_min=offset_min) for user, at in (("u1", (13, 0)), ("u2", (22, 15)))]
    run(engine, events)
    outputs = engine.advance(local_ms(1, 12, offset_min=offset_min))
    assert [(o.user_id, o.ts_ms) for o in outputs] == [("u1", local_ms(1, 8, offset_min=offset_min)), ("u2", local_ms(1, 8, 15, offset_min=offset_min))]
