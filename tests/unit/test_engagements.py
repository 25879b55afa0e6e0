"""Closing the loop: engagements about triggers' messages, the channel each user gets, A/B
variants of a rule, and follow-ups of ignored messages. Each test tells its story in event time,
through the partition engine and rules written as a marketer writes them."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from builders import MINUTE_MS, T0_MS, add, consent, item, purchase, run

from schemas.events import Engagement, EngagementType
from schemas.outputs import Conversion, Response, Suppression, Trigger
from streams.channels import responsiveness
from streams.config import HOUR_MS, ProfileConfig
from streams.partition import PartitionEngine
from streams.rules.guardrails import in_holdout
from streams.rules.kinds import longest_delay_ms
from streams.rules.loading import RulesError, parse_rulebook
from streams.rules.variants import for_user

DELAY_MS = 30 * MINUTE_MS
NO_GUARDS = "guardrails: {holdout: {fraction: 0}, frequency_cap: off, quiet_hours: off}\nmodels: {enabled: false}\n"


def engine(rules: str, guardrails: str = NO_GUARDS) -> PartitionEngine:
    return PartitionEngine(store={}, book=parse_rulebook(guardrails + "rules:\n" + rules))


def engaged(user: str, ts_ms: int, trigger_id: str, channel: str, kind: str) -> Engagement:
    return Engagement(f"{trigger_id}:{kind}:{ts_ms}", user, ts_ms, 0, trigger_id, channel, EngagementType(kind))


def cart_trigger(eng: PartitionEngine, user: str = "u1", at_ms: int = T0_MS) -> Trigger:
    """Leave a cart at ``at_ms`` and return the reminder it earns DELAY_MS later."""
    outputs = run(eng, [add(user, at_ms)], advance_to_ms=at_ms + DELAY_MS)
    [trigger] = [output for output in outputs if isinstance(output, Trigger)]
    return trigger


CART = "  - {name: cart, kind: abandoned_cart, channel: %s, params: {delay: 30m}}\n"


# --- engagements are matched to their trigger ----------------------------------------------------


def test_each_engagement_is_counted_for_its_trigger_s_rule_and_a_click_marks_the_conversion():
    eng = engine(CART % "push")
    trigger = cart_trigger(eng)
    t = trigger.ts_ms
    outputs = run(eng, [
        engaged("u1", t + 1_000, trigger.trigger_id, "push", "delivered"),
        engaged("u1", t + 10 * MINUTE_MS, trigger.trigger_id, "push", "opened"),
        engaged("u1", t + 11 * MINUTE_MS, trigger.trigger_id, "push", "clicked"),
        purchase("u1", t + HOUR_MS, [item("p1", 10.0)]),
    ])  # fmt: skip
    responses = [output for output in outputs if isinstance(output, Response)]
    assert [(r.type, r.rule, r.channel, r.ts_ms - r.trigger_ts_ms) for r in responses] == [
        ("delivered", "cart", "push", 1_000), ("opened", "cart", "push", 10 * MINUTE_MS), ("clicked", "cart", "push", 11 * MINUTE_MS)
    ]  # fmt: skip
    [conversion] = [output for output in outputs if isinstance(output, Conversion)]
    assert conversion.clicked is True and conversion.trigger_id == trigger.trigger_id


def test_a_conversion_without_a_click_says_so_and_an_engagement_about_an_unknown_trigger_counts_nothing():
    eng = engine(CART % "push")
    trigger = cart_trigger(eng)
    outputs = run(eng, [
        engaged("u1", trigger.ts_ms + 1, "not-a-trigger", "push", "opened"),
        engaged("ghost", trigger.ts_ms + 2, trigger.trigger_id, "push", "opened"),  # a user Nudge does not hold
        purchase("u1", trigger.ts_ms + HOUR_MS, [item("p1", 10.0)]),
    ])  # fmt: skip
    assert not [output for output in outputs if isinstance(output, Response)]
    [conversion] = [output for output in outputs if isinstance(output, Conversion)]
    assert conversion.clicked is False
    assert "ghost" not in eng.store


def test_responsiveness_counts_one_response_per_message_against_its_deliveries():
    eng = engine(CART % "push")
    trigger = cart_trigger(eng)
    t = trigger.ts_ms
    run(eng, [engaged("u1", t, trigger.trigger_id, "push", kind) for kind in ("delivered", "opened", "clicked")])
    profile = eng.store["u1"].profile
    assert responsiveness(profile, "push", now_ms=t, config=ProfileConfig()) == pytest.approx((1 + 1) / (1 + 2))
    assert responsiveness(profile, "email", now_ms=t, config=ProfileConfig()) == 0.5  # never heard of: the prior
    assert profile.last_response[:2] == ["clicked", "push"]


# --- the channel each user gets --------------------------------------------------------------------


def test_a_user_who_opted_out_of_push_gets_the_cart_reminder_by_email():
    eng = engine(CART % "[push, email, sms]")
    run(eng, [consent("u1", T0_MS - 1, "push", False)])
    assert cart_trigger(eng).channel == "email"


@pytest.mark.parametrize(
    ("story", "expected"),
    [
        ("bounced on push a minute before the cart", "email"),
        ("bounced, then delivered later on push", "push"),
        ("delivered on push, reported after a later bounce but stamped before it", "email"),
        ("bounced, then opted in to push again", "push"),
        ("bounced, then an opt-in stamped before the bounce", "email"),
    ],
)
def test_a_bounce_blocks_the_channel_until_a_later_consent_or_engagement_shows_it_works(story: str, expected: str):
    eng = engine(CART % "[push, email]")
    first = cart_trigger(eng, at_ms=T0_MS)
    t = first.ts_ms + MINUTE_MS
    bounce = engaged("u1", t, first.trigger_id, "push", "bounced")
    later = {
        "bounced on push a minute before the cart": [],
        "bounced, then delivered later on push": [engaged("u1", t + 1, first.trigger_id, "push", "delivered")],
        "delivered on push, reported after a later bounce but stamped before it": [engaged("u1", t - 1, first.trigger_id, "push", "delivered")],
        "bounced, then opted in to push again": [consent("u1", t + 1, "push", True)],
        "bounced, then an opt-in stamped before the bounce": [consent("u1", t - 1, "push", True)],
    }[story]
    run(eng, [bounce, *later, purchase("u1", t + 2, [item("p1", 10.0)])])
    assert cart_trigger(eng, at_ms=t + 2 * DELAY_MS).channel == expected


@pytest.mark.parametrize("kind", ["unsubscribed", "complained"])
def test_an_unsubscribe_or_a_complaint_is_an_opt_out_in_event_time_and_names_its_reason(kind: str):
    eng = engine(CART % "push")
    first = cart_trigger(eng)
    t = first.ts_ms + MINUTE_MS
    outputs = run(eng, [engaged("u1", t, first.trigger_id, "push", kind), purchase("u1", t + 1, [item("p1", 10.0)]), add("u1", t + 2)], advance_to_ms=t + 2 + DELAY_MS)
    [suppression] = [output for output in outputs if isinstance(output, Suppression)]
    assert suppression.reason.value == "unsubscribed"
    profile = eng.store["u1"].profile
    assert profile.consents["push"] == [False, t]
    run(eng, [consent("u1", t - 1, "push", True)])  # an older opt-in, arriving late, changes nothing
    assert profile.consent_for("push", default=True) is False and "push" in profile.channel_blocks
    run(eng, [consent("u1", t + DELAY_MS + 5, "push", True), purchase("u1", t + DELAY_MS + 6, [item("p1", 10.0)])])
    assert cart_trigger(eng, at_ms=t + DELAY_MS + 7).channel == "push"


def test_best_sends_on_the_channel_the_user_answers_and_breaks_ties_by_the_list_order():
    rules = "  - {name: cart, kind: abandoned_cart, channel: best, channels: [push, email, sms], params: {delay: 30m}}\n"
    eng = engine(rules)
    first = cart_trigger(eng)
    assert first.channel == "push"  # nothing known: the first listed
    t = first.ts_ms
    history = []
    for n in range(3):  # push is delivered and ignored; email is opened
        history += [engaged("u1", t + n, f"p{n}", "push", "delivered"), engaged("u1", t + n, f"e{n}", "email", "delivered"), engaged("u1", t + n, f"e{n}", "email", "opened")]
    run(eng, [*history, purchase("u1", t + 10, [item("p1", 10.0)])])
    assert cart_trigger(eng, at_ms=t + HOUR_MS).channel == "email"


def test_every_channel_blocked_suppresses_with_the_first_channel_s_reason():
    eng = engine(CART % "[push, email]")
    first = cart_trigger(eng)
    t = first.ts_ms
    run(eng, [engaged("u1", t + 1, first.trigger_id, "push", "bounced"), consent("u1", t + 2, "email", False), purchase("u1", t + 3, [item("p1", 10.0)])])
    outputs = run(eng, [add("u1", t + 4)], advance_to_ms=t + 4 + DELAY_MS)
    assert [(type(o).__name__, getattr(o, "reason", None) and o.reason.value) for o in outputs] == [("Suppression", "bounced")]


# --- A/B variants ---------------------------------------------------------------------------------

VARIANTS = """  - name: cart
    kind: abandoned_cart
    channel: push
    params: {delay: 30m}
    variants:
      - {name: quick, weight: 1}
      - {name: slow, weight: 1, params: {delay: 60m}, offer: {discount_percent: 15}}
"""


def test_a_variant_s_overrides_apply_to_its_users_and_it_is_named_on_every_output():
    eng = engine(VARIANTS)
    salt = eng.core.book.guardrails.variant_salt
    rule = eng.core.book.rules[0]
    users = {name: next(f"u{n}" for n in range(100) if for_user(rule, f"u{n}", salt=salt).variant == name) for name in ("quick", "slow")}
    quick = run(eng, [add(users["quick"], T0_MS)], advance_to_ms=T0_MS + 30 * MINUTE_MS)
    slow = run(eng, [add(users["slow"], T0_MS)], advance_to_ms=T0_MS + 59 * MINUTE_MS)
    assert [(o.variant, "offer" in o.payload) for o in quick] == [("quick", False)] and slow == []
    [late] = run(eng, [], advance_to_ms=T0_MS + 60 * MINUTE_MS)
    assert (late.variant, late.payload["offer"]) == ("slow", {"discount_percent": 15})
    outputs = run(eng, [engaged(users["slow"], T0_MS + 61 * MINUTE_MS, late.trigger_id, "push", "opened"), purchase(users["slow"], T0_MS + 2 * HOUR_MS, [item("p1", 10.0)])])
    assert [(type(o).__name__, o.variant) for o in outputs] == [("Response", "slow"), ("Conversion", "slow")]
    outcomes = eng.population.outcomes
    assert (outcomes["cart/slow"].treated, outcomes["cart/slow"].treated_converted, outcomes["cart/quick"].treated, outcomes["cart"].treated) == (1, 1, 1, 2)


def _split(book_text: str, users: int = 4000) -> dict[str, str]:
    book = parse_rulebook(NO_GUARDS + "rules:\n" + book_text)
    rule, salt = book.rules[0], book.guardrails.variant_salt
    return {f"u{n}": for_user(rule, f"u{n}", salt=salt).variant or "" for n in range(users)}


def _variants(*weights: tuple[str, float]) -> str:
    return "  - name: cart\n    kind: abandoned_cart\n    channel: push\n    variants:\n" + "".join(f"      - {{name: {n}, weight: {w}}}\n" for n, w in weights)


def test_users_are_split_by_weight_stably_and_independently_of_the_holdout():
    split = _split(_variants(("a", 1), ("b", 3)))
    shares = Counter(split.values())
    assert shares["b"] / len(split) == pytest.approx(0.75, abs=0.03)
    assert split == _split(_variants(("a", 1), ("b", 3))), "the same users, every time"
    held = {user for user in split if in_holdout(user, "cart", fraction=0.2, salt="nudge-holdout-1")}
    for variant in "ab":
        members = [user for user, name in split.items() if name == variant]
        assert sum(user in held for user in members) / len(members) == pytest.approx(0.2, abs=0.04), "the holdout cuts across variants"


def test_removing_a_variant_or_changing_a_weight_moves_only_the_users_it_must():
    before = _split(_variants(("a", 1), ("b", 1), ("c", 1)))
    removed = _split(_variants(("a", 1), ("b", 1)))
    assert all(removed[user] == name for user, name in before.items() if name != "c"), "only c's users move"
    heavier = _split(_variants(("a", 1), ("b", 1), ("c", 2)))
    moved = [(before[user], heavier[user]) for user in before if before[user] != heavier[user]]
    assert moved and all(new == "c" for _, new in moved), "a heavier c only takes users"
    expected_share = 2 / 4 - 1 / 3
    assert len(moved) / len(before) == pytest.approx(expected_share, abs=0.03)


# --- follow-ups ------------------------------------------------------------------------------------

FOLLOW_UP = """  - name: cart
    kind: abandoned_cart
    channel: push
    params: {delay: 30m}
    follow_up: {after: 4h, channel: email}
"""
AFTER_MS = 4 * HOUR_MS


@pytest.mark.parametrize(
    ("story", "follows_up"),
    [
        ("ignored", True),
        ("delivered only", True),
        ("bounced", True),
        ("opened a millisecond before the follow-up", False),
        ("opened just when the follow-up fired", True),
        ("clicked", False),
        ("dismissed", False),
        ("bought something", False),
    ],
)
def test_an_ignored_message_is_followed_up_on_another_channel_unless_the_user_acted(story: str, follows_up: bool):
    eng = engine(FOLLOW_UP)
    first = cart_trigger(eng)
    due_ms = first.ts_ms + AFTER_MS
    tid = first.trigger_id
    events = {
        "ignored": [],
        "delivered only": [engaged("u1", first.ts_ms + 1, tid, "push", "delivered")],
        "bounced": [engaged("u1", first.ts_ms + 1, tid, "push", "bounced")],
        "opened a millisecond before the follow-up": [engaged("u1", due_ms - 1, tid, "push", "opened")],
        "opened just when the follow-up fired": [engaged("u1", due_ms, tid, "push", "opened")],
        "clicked": [engaged("u1", first.ts_ms + 5, tid, "push", "clicked")],
        "dismissed": [engaged("u1", first.ts_ms + 5, tid, "push", "dismissed")],
        "bought something": [purchase("u1", first.ts_ms + 5, [item("p9", 3.0)])],
    }[story]
    outputs = run(eng, events, advance_to_ms=due_ms)
    sent = [output for output in outputs if isinstance(output, Trigger)]
    if not follows_up:
        assert sent == []
        return
    [second] = sent
    assert (second.rule, second.channel, second.ts_ms, second.payload["follow_up_of"]) == ("cart-follow-up", "email", due_ms, tid)
    assert second.trigger_id != tid


def test_a_follow_up_passes_the_guardrails_and_is_never_the_same_message_again():
    eng = engine(FOLLOW_UP)
    run(eng, [consent("u1", T0_MS - 1, "email", False)])
    first = cart_trigger(eng)
    [suppression] = run(eng, [], advance_to_ms=first.ts_ms + AFTER_MS)
    assert isinstance(suppression, Suppression) and suppression.reason.value == "no_consent"
    with pytest.raises(RulesError, match="never simply resent"):
        parse_rulebook("rules:\n  - {name: cart, kind: abandoned_cart, channel: push, follow_up: {after: 4h}}\n")
    with pytest.raises(RulesError, match="resent as it was"):
        parse_rulebook("rules:\n  - {name: cart, kind: abandoned_cart, channel: push, follow_up: {after: 4h, channel: push}}\n")
    with pytest.raises(RulesError, match="shorter than the attribution window"):
        parse_rulebook("rules:\n  - {name: cart, kind: abandoned_cart, channel: push, follow_up: {after: 2d, channel: email}}\n")


def test_a_follow_up_with_a_new_offer_may_use_the_channel_again_and_carries_the_first_variant():
    rules = """  - name: cart
    kind: abandoned_cart
    channel: push
    params: {delay: 30m}
    follow_up: {after: 4h, offer: {discount_percent: 10}}
    variants: [{name: a}, {name: b}]
"""
    eng = engine(rules)
    first = cart_trigger(eng)
    [second] = run(eng, [], advance_to_ms=first.ts_ms + AFTER_MS)
    assert (second.channel, second.payload["offer"], second.variant) == ("push", {"discount_percent": 10}, first.variant)
    assert first.variant in ("a", "b")


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ("channel: [push, push]", "listed twice"),
        ("channel: [best, push]", "not one"),
        ("channel: push, channels: [push, email]", "only for `channel: best`"),
        ("channel: push, variants: [{name: a}]", "2 to 8 variants"),
        ("channel: push, variants: [{name: a}, {name: a}]", "duplicate variant name"),
        ("channel: push, variants: [{name: a, weight: 0}, {name: b}]", "must be above 0"),
        ("channel: push, variants: [{name: a, params: {dealy: 1h}}, {name: b}]", "did you mean 'delay'"),
    ],
)
def test_the_rules_file_refuses_what_cannot_mean_anything(rules: str, problem: str):
    with pytest.raises(RulesError, match=problem):
        parse_rulebook(f"rules:\n  - {{name: cart, kind: abandoned_cart, {rules}}}\n")


def test_the_end_of_input_horizon_covers_the_slowest_variant_and_the_follow_up():
    book = parse_rulebook(NO_GUARDS + "rules:\n" + VARIANTS.replace("variants:", "follow_up: {after: 4h, channel: email}\n    variants:"))
    assert longest_delay_ms(book) == 60 * MINUTE_MS + 4 * HOUR_MS
    assert math.isclose(sum(v.weight for v in book.rules[0].variants), 2.0)


def test_a_user_record_of_format_4_loads_with_no_engagement_yet():
    import orjson

    from agents.records import UserRecord, decode_record, encode_record

    eng = engine(CART % "push")
    cart_trigger(eng)
    body = orjson.loads(encode_record(UserRecord(partition=0, state=eng.store["u1"])))
    for field in ("engagement", "last_response", "channel_blocks"):
        del body["state"]["profile"][field]
    body["state"]["exposures"] = [exposure[:6] for exposure in body["state"]["exposures"]]
    body["v"] = 4
    restored = decode_record(orjson.dumps(body)).state
    assert len(restored.profile.engagement) == 0 and restored.profile.channel_blocks == {} and restored.profile.last_response is None
    assert [(e.rule, e.channel, e.variant) for e in restored.exposures] == [("cart", "", None)]


def test_a_follow_up_due_at_night_waits_for_the_morning_with_the_id_it_would_have_had():
    guards = "guardrails: {holdout: {fraction: 0}, frequency_cap: off, quiet_hours: {start: '22:00', end: '08:00'}}\nmodels: {enabled: false}\n"
    evening = T0_MS + 11 * HOUR_MS  # 20:00 UTC: the reminder goes at 20:30, its follow-up is due at 00:30
    eng = engine(FOLLOW_UP, guards)
    first = cart_trigger(eng, at_ms=evening)
    assert run(eng, [], advance_to_ms=first.ts_ms + AFTER_MS) == []
    [second] = run(eng, [], advance_to_ms=T0_MS + 23 * HOUR_MS)  # 08:00 the next morning
    assert (second.rule, second.channel, second.ts_ms, second.payload["follow_up_of"]) == ("cart-follow-up", "email", T0_MS + 23 * HOUR_MS, first.trigger_id)
    unheld = engine(FOLLOW_UP)
    assert run(unheld, [add("u1", evening)], advance_to_ms=evening + DELAY_MS + AFTER_MS)[-1].trigger_id == second.trigger_id


def test_a_follow_up_takes_over_from_its_first_message_so_two_purchases_make_one_conversion():
    eng = engine(FOLLOW_UP)
    first = cart_trigger(eng)
    [second] = run(eng, [], advance_to_ms=first.ts_ms + AFTER_MS)
    outputs = run(eng, [purchase("u1", second.ts_ms + HOUR_MS, [item("p1", 10.0)]), purchase("u1", second.ts_ms + 10 * HOUR_MS, [item("p1", 10.0)])])
    assert [(o.trigger_id, o.rule) for o in outputs if isinstance(o, Conversion)] == [(second.trigger_id, "cart-follow-up")]
    cart = eng.population.outcomes["cart"]
    assert (cart.treated, cart.treated_converted) == (1, 1), "counted as the rule's: one send, one conversion"


@pytest.mark.parametrize(
    ("story", "blocked"),
    [
        ("an unsubscribe stamped before a newer opt-in", False),
        ("an unsubscribe stamped after the opt-in", True),
        ("a bounce stamped before a delivery that came first", False),
        ("a bounce stamped after the last delivery", True),
    ],
)
def test_a_late_opt_out_or_bounce_older_than_news_that_the_channel_works_changes_nothing(story: str, blocked: bool):
    eng = engine(CART % "push")
    first = cart_trigger(eng)
    t, tid = first.ts_ms + HOUR_MS, first.trigger_id
    events = {
        "an unsubscribe stamped before a newer opt-in": [consent("u1", t + 10, "push", True), engaged("u1", t, tid, "push", "unsubscribed")],
        "an unsubscribe stamped after the opt-in": [consent("u1", t, "push", True), engaged("u1", t + 10, tid, "push", "unsubscribed")],
        "a bounce stamped before a delivery that came first": [engaged("u1", t + 10, tid, "push", "delivered"), engaged("u1", t, tid, "push", "bounced")],
        "a bounce stamped after the last delivery": [engaged("u1", t, tid, "push", "delivered"), engaged("u1", t + 10, tid, "push", "bounced")],
    }[story]
    run(eng, events)
    assert ("push" in eng.store["u1"].profile.channel_blocks) is blocked


def test_a_user_s_pending_follow_ups_are_bounded():
    rules = """  - name: cart
    kind: abandoned_cart
    channel: push
    params: {delay: 1m, once_per: 1s}
    follow_up: {after: 20h, channel: email}
"""
    eng = engine(rules)  # a cart changed every 10 minutes: 40 reminders, each waiting 20 h for its follow-up
    sent = [o for o in run(eng, [add("u1", T0_MS + n * 10 * MINUTE_MS, product=f"p{n}") for n in range(40)], advance_to_ms=T0_MS + 400 * MINUTE_MS) if isinstance(o, Trigger)]
    assert len(sent) == 40
    pending = [key for key in eng.store["u1"].timers if key.startswith("follow-up:")]
    assert 0 < len(pending) <= 16


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("{name: sale, kind: timed_promotion, channel: email, offer: {pct: 5}, params: {start: 2026-01-01T00:00:00Z, end: 2026-02-01T00:00:00Z}}", "goes in its params"),
        ("{name: cart, kind: abandoned_cart, channel: push, follow_up: {after: 4h, channel: [push]}}", "only channel the rule can use"),
        ("{name: cart, kind: abandoned_cart, channel: push, variants: [{name: a}, {name: b, channel: email}], follow_up: {after: 4h, channel: email}}", None),
        ("{name: cart, kind: abandoned_cart, channel: best, follow_up: {after: 4h, channel: best}}", None),
        ("{name: cart, kind: abandoned_cart, channel: [push, email], follow_up: {after: 4h, channel: push}}", None),
    ],
)
def test_the_loader_judges_a_follow_up_by_the_channels_it_can_use(rule: str, problem: str | None):
    text = f"rules:\n  - {rule}\n"
    if problem is None:
        book = parse_rulebook(text)
        assert all(variant.rule.follow_up == book.rules[0].follow_up for variant in book.rules[0].variants)
    else:
        with pytest.raises(RulesError, match=problem):
            parse_rulebook(text)
