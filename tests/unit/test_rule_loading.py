"""The rules file: the shipped default, every key read into the spec, and errors that point at
the exact key and line a marketer has to fix.

YAML texts start at line 1 with no leading newline, so the line numbers in the tables can be
counted by eye.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from streams.config import DAY_MS, HOUR_MS, MINUTE_MS
from streams.rules.loading import RulesError, default_rulebook, load_rulebook_file, parse_rulebook
from streams.rules.spec import (
    CrossSellParams,
    ReplenishmentParams,
    AbandonedCartParams,
    AbandonedInterestParams,
    Guardrails,
    QuietHours,
    RuleKind,
    SegmentFilter,
    SendAt,
    TimedPromotionParams,
    WinBackParams,
)

SECOND_MS = 1000
CART = "  - {name: cart, kind: abandoned_cart, channel: push}\n"


def epoch_ms(*args: int, offset_h: int = 0) -> int:
    moment = datetime(*args, tzinfo=timezone(timedelta(hours=offset_h)))
    return int(moment.timestamp() * 1000)


def only_rule(text: str):
    (rule,) = parse_rulebook(text).rules
    return rule


def cart_params(params: str) -> AbandonedCartParams:
    return only_rule(f"rules:\n  - {{name: cart, kind: abandoned_cart, channel: push, params: {params}}}\n").params


# --- the shipped default ------------------------------------------------------------------------


def test_default_rulebook_has_the_six_documented_rules():
    book = default_rulebook()
    assert [(r.name, r.kind, r.channel, r.priority) for r in book.enabled] == [
        ("abandoned_cart", RuleKind.ABANDONED_CART, "push", 30),
        ("abandoned_interest", RuleKind.ABANDONED_INTEREST, "push", 20),
        ("cross_sell", RuleKind.CROSS_SELL, "email", 15),
        ("replenishment", RuleKind.REPLENISHMENT, "push", 25),
        ("win_back", RuleKind.WIN_BACK, "email", 10),
        ("winter_sale", RuleKind.TIMED_PROMOTION, "email", 5),
    ]
    assert book.rules == book.enabled
    assert all(rule.holdout_fraction is None for rule in book.rules)


def test_default_rulebook_values():
    cart, interest, cross_sell, replenishment, win_back, sale = default_rulebook().rules
    assert cart.params == AbandonedCartParams(delay_ms=30 * MINUTE_MS, once_per_ms=DAY_MS)
    assert interest.params == AbandonedInterestParams()  # every default is written out in the file
    assert cross_sell.params == CrossSellParams() and cross_sell.choices == ("email", "push")
    assert replenishment.params == ReplenishmentParams(categories=("coffee",))
    assert win_back.params == WinBackParams(top_categories=1, churned_offer={"discount_pct": 15})  # the bounds written out are the defaults
    assert sale.params == TimedPromotionParams(
        start_ms=epoch_ms(2026, 11, 20),
        end_ms=epoch_ms(2027, 1, 10),
        offer={"code": "WINTER15", "discount_pct": 15},
        send_at=SendAt.BEST_HOUR,
        segment=SegmentFilter(lifecycle=("active", "loyal"), consent="email"),
    )


def test_default_rulebook_guardrails_are_the_spec_defaults():
    guardrails = default_rulebook().guardrails
    assert guardrails == Guardrails()
    assert guardrails.holdout_fraction == 0.10
    assert (guardrails.frequency_cap, guardrails.frequency_window_ms) == (3, DAY_MS)
    assert guardrails.quiet_hours == QuietHours(start_min=22 * 60, end_min=8 * 60)
    assert guardrails.attribution_window_ms == DAY_MS


# --- every key read into the spec ---------------------------------------------------------------

EVERY_KEY = """\
guardrails:
  holdout: {fraction: 0.05, salt: second-test}
  frequency_cap: {max_triggers: 5, window: 12h}
  quiet_hours: {start: "21:30", end: "07:15"}
  attribution_window: 3d
rules:
  - name: interest
    kind: abandoned_interest
    channel: push
    priority: -1
    enabled: false
    holdout: 0.25
    params:
      min_views: 5
      min_views_after_search: 2
      window: 1h30m
      delay: 45m
      affinity_threshold: 3.5
      top_products: 4
      once_per: 2d
      max_lateness: 3h
  - name: cart
    kind: abandoned_cart
    channel: sms
    params: {delay: 90s, once_per: 12h}
  - name: back
    kind: win_back
    channel: email
    params: {top_categories: 2, multiple: 2.5, at_least: 10d, at_most: 45d, churn_multiple: 2, min_gaps: 4, churned_offer: {code: COMEBACK}}
  - name: sale
    kind: timed_promotion
    channel: email
    params:
      start: 2026-12-01T09:00:00+01:00
      end: "2026-12-02T09:00:00+01:00"
      send_at: first_event
      segment:
        lifecycle: loyal
        rfm: [champions, loyal]
        top_category: [shoes, bags]
        price_sensitivity: [premium]
        consent: sms
      offer:
        code: "015"
        pct: 15
        ratio: 0.5
        stackable: true
        note: hello
        tiers: [1, two]
        nested: {valid_until: 2027-01-10}
        nothing: ~
"""


def test_every_guardrail_key_is_read():
    assert parse_rulebook(EVERY_KEY).guardrails == Guardrails(
        holdout_fraction=0.05,
        holdout_salt="second-test",
        frequency_cap=5,
        frequency_window_ms=12 * HOUR_MS,
        quiet_hours=QuietHours(start_min=21 * 60 + 30, end_min=7 * 60 + 15),
        attribution_window_ms=3 * DAY_MS,
    )


def test_every_rule_and_param_key_is_read():
    interest, cart, back, sale = parse_rulebook(EVERY_KEY).rules
    assert (interest.name, interest.channel, interest.priority, interest.enabled, interest.holdout_fraction) == (
        "interest", "push", -1, False, 0.25,
    )
    assert interest.params == AbandonedInterestParams(
        min_views=5,
        min_views_after_search=2,
        window_ms=90 * MINUTE_MS,
        delay_ms=45 * MINUTE_MS,
        affinity_threshold=3.5,
        top_products=4,
        once_per_ms=2 * DAY_MS,
        max_lateness_ms=3 * HOUR_MS,
    )
    assert (cart.channel, cart.params) == ("sms", AbandonedCartParams(delay_ms=90 * SECOND_MS, once_per_ms=12 * HOUR_MS))
    assert back.params == WinBackParams(
        top_categories=2,
        multiple=2.5,
        at_least_ms=10 * DAY_MS,
        at_most_ms=45 * DAY_MS,
        churn_multiple=2.0,
        min_gaps=4,
        churned_offer={"code": "COMEBACK"},
    )
    assert replace(sale.params, offer={}) == TimedPromotionParams(  # the offer has its own test
        start_ms=epoch_ms(2026, 12, 1, 8),
        end_ms=epoch_ms(2026, 12, 2, 8),
        send_at=SendAt.FIRST_EVENT,
        segment=SegmentFilter(
            lifecycle=("loyal",),
            rfm=("champions", "loyal"),
            top_category=("shoes", "bags"),
            price_sensitivity=("premium",),
            consent="sms",
        ),
    )


def test_offer_becomes_plain_python_and_quotes_keep_strings():
    offer = parse_rulebook(EVERY_KEY).rules[3].params.offer
    assert offer == {
        "code": "015",
        "pct": 15,
        "ratio": 0.5,
        "stackable": True,
        "note": "hello",
        "tiers": [1, "two"],
        "nested": {"valid_until": "2027-01-10"},
        "nothing": None,
    }
    assert type(offer["pct"]) is int and type(offer["stackable"]) is bool


def test_omitted_params_and_keys_take_the_dataclass_defaults():
    book = parse_rulebook(
        "guardrails: {attribution_window: 2h}\n"
        "rules:\n"
        "  - {name: a, kind: abandoned_interest, channel: push}\n"
        "  - {name: b, kind: abandoned_cart, channel: push, params: {once_per: 1h}}\n"
        "  - {name: c, kind: win_back, channel: email}\n"
        "  - {name: d, kind: timed_promotion, channel: email, params: {start: '2026-11-20T00:00:00Z', end: 2026-11-21T00:00:00Z}}\n"
    )
    interest, cart, back, promotion = book.rules
    assert book.guardrails == Guardrails(attribution_window_ms=2 * HOUR_MS)
    assert (interest.priority, interest.enabled, interest.holdout_fraction) == (0, True, None)
    assert interest.params == AbandonedInterestParams()
    assert cart.params == AbandonedCartParams(once_per_ms=HOUR_MS)
    assert back.params == WinBackParams()
    assert (promotion.params.send_at, promotion.params.segment, promotion.params.offer) == (SendAt.FIRST_EVENT, SegmentFilter(), {})


@pytest.mark.parametrize(
    ("written", "duration_ms"),
    [
        ("90s", 90 * SECOND_MS),
        ("30m", 30 * MINUTE_MS),
        ("2h", 2 * HOUR_MS),
        ("1d", DAY_MS),
        ("1h30m", 90 * MINUTE_MS),
        ("1d2h3m4s", DAY_MS + 2 * HOUR_MS + 3 * MINUTE_MS + 4 * SECOND_MS),
    ],
)
def test_durations(written, duration_ms):
    assert cart_params(f"{{delay: {written}}}").delay_ms == duration_ms


@pytest.mark.parametrize("written", ["30", "1.5h", "30M", "m", "-5m", "30m1h", "'30 m'"])
def test_malformed_durations_are_errors(written):
    with pytest.raises(RulesError, match=r"rules\[0\]\.params\.delay: expected a duration like 30m, 2h or 1d"):
        cart_params(f"{{delay: {written}}}")


@pytest.mark.parametrize(("written", "enabled"), [("true", True), ("YES", True), ("False", False), ("no", False)])
def test_bools_are_case_insensitive_true_false_yes_no(written, enabled):
    assert only_rule(f"rules:\n  - {{name: a, kind: win_back, channel: email, enabled: {written}}}\n").enabled is enabled


@pytest.mark.parametrize("key", ["frequency_cap", "quiet_hours"])
@pytest.mark.parametrize("off", ["off", "Off"])
def test_off_turns_a_guardrail_off(key, off):
    guardrails = parse_rulebook(f"guardrails:\n  {key}: {off}\nrules: []\n").guardrails
    assert getattr(guardrails, key) is None
    assert guardrails.holdout_fraction == Guardrails().holdout_fraction  # the others keep their defaults


def test_scalars_are_not_converted_by_yaml():
    # YAML 1.1 would make dates of these, a bool of `no` and a float of 1e3.
    book = parse_rulebook(
        "guardrails:\n"
        "  holdout: {salt: 2026-11-20}\n"
        "rules:\n"
        "  - name: 2026-01-01\n"
        "    kind: win_back\n"
        "    channel: no\n"
        "  - {name: 1e3, kind: win_back, channel: email}\n"
    )
    assert book.guardrails.holdout_salt == "2026-11-20"
    assert [(rule.name, rule.channel) for rule in book.rules] == [("2026-01-01", "no"), ("1e3", "email")]


def test_timestamps_keep_their_offset():
    rule = only_rule(
        "rules:\n"
        "  - {name: s, kind: timed_promotion, channel: email,"
        "     params: {start: 2026-11-20T00:00:00+02:00, end: 2026-11-20T00:00:00.500-05:00}}\n"
    )
    assert rule.params.start_ms == epoch_ms(2026, 11, 19, 22)
    assert rule.params.end_ms == epoch_ms(2026, 11, 20, 5) + 500


def test_per_rule_holdout_overrides_the_guardrail_default():
    book = parse_rulebook(
        "guardrails: {holdout: {fraction: 0.1}}\n"
        "rules:\n"
        "  - {name: a, kind: win_back, channel: email, holdout: 0.2}\n"
        "  - {name: b, kind: win_back, channel: email, holdout: 0}\n"
        "  - {name: c, kind: win_back, channel: email}\n"
    )
    assert [book.holdout_fraction(rule) for rule in book.rules] == [0.2, 0.0, 0.1]


# --- errors name the key and its line ----------------------------------------------------------

PROMOTION = """\
rules:
  - name: sale
    kind: timed_promotion
    channel: email
    params:
      start: 2026-11-20T00:00:00Z
      end: 2027-01-10T00:00:00Z
"""

ERRORS = {
    "unknown top-level key": (
        "guardrail:\n  attribution_window: 1h\nrules: []\n",
        1, "guardrail", "unknown key; expected one of guardrails, models, rules (did you mean 'guardrails'?)",
    ),
    "unknown guardrail key": (
        "guardrails:\n  holdout: {fraction: 0.1}\n  quiet: off\nrules: []\n",
        3, "guardrails.quiet", "unknown key",
    ),
    "unknown rule key": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n    chanel: push\n",
        4, "rules[0].chanel", "unknown key; expected one of name, kind, channel",
    ),
    "unknown params key": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n    params:\n      delay: 30m\n      dealy: 1h\n",
        7, "rules[0].params.dealy", "unknown key for abandoned_cart; expected one of delay, once_per",
    ),
    "params key of another kind": (
        "rules:\n" + CART + "  - name: cart2\n    kind: abandoned_cart\n    channel: push\n    params: {min_views: 2}\n",
        6, "rules[1].params.min_views", "unknown key for abandoned_cart",
    ),
    "unknown segment key": (
        PROMOTION + "      segment:\n        lifecycles: [active]\n",
        9, "rules[0].params.segment.lifecycles", "unknown key; expected one of lifecycle",
    ),
    "missing name": (
        "rules:\n" + CART + "  - kind: win_back\n    channel: email\n",
        3, "rules[1]", "missing required key 'name'",
    ),
    "missing kind": (
        "rules:\n" + CART + "  - name: back\n    channel: email\n",
        3, "rules[1]", "missing required key 'kind'",
    ),
    "missing channel": (
        "rules:\n" + CART + "\n  - name: back\n    kind: win_back\n",
        4, "rules[1]", "missing required key 'channel'",
    ),
    "missing rules": ("guardrails: {attribution_window: 1h}\n", 1, "", "missing required key 'rules'"),
    "empty file": ("# nothing yet\n", 1, "", "the rules file is empty"),
    "bad duration": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n    params: {delay: soon}\n",
        5, "rules[0].params.delay", "expected a duration like 30m, 2h or 1d, got 'soon'",
    ),
    "zero duration": (
        "rules:\n" + CART + "  - {name: c2, kind: abandoned_cart, channel: push, params: {once_per: 0m}}\n",
        3, "rules[1].params.once_per", "must be longer than zero, got '0m'",
    ),
    "bad kind": (
        "rules:\n  - name: cart\n    kind: abandon_cart\n    channel: push\n",
        3, "rules[0].kind", "expected one of abandoned_interest, abandoned_cart, timed_promotion, win_back, cross_sell, replenishment, got 'abandon_cart'",
    ),
    "bad bool": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n    enabled: maybe\n",
        5, "rules[0].enabled", "expected true or false, got 'maybe'",
    ),
    "rule holdout 1.5": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n    holdout: 1.5\n",
        5, "rules[0].holdout", "expected a fraction between 0 and 1, got '1.5'",
    ),
    "guardrail holdout 1.5": (
        "guardrails:\n  holdout:\n    salt: x\n    fraction: 1.5\nrules: []\n",
        4, "guardrails.holdout.fraction", "expected a fraction between 0 and 1, got '1.5'",
    ),
    "clock 25:00": (
        "guardrails:\n  quiet_hours: {start: \"25:00\", end: \"08:00\"}\nrules: []\n",
        2, "guardrails.quiet_hours.start", "expected a clock time HH:MM like 22:00, got '25:00'",
    ),
    "clock 22:60": (
        "guardrails:\n  quiet_hours:\n    start: \"22:00\"\n    end: \"22:60\"\nrules: []\n",
        4, "guardrails.quiet_hours.end", "got '22:60'",
    ),
    "quiet hours of no length": (
        "guardrails:\n  quiet_hours: {start: \"22:00\", end: \"22:00\"}\nrules: []\n",
        2, "guardrails.quiet_hours", "start and end are the same time",
    ),
    "frequency cap neither mapping nor off": (
        "guardrails:\n  frequency_cap: none\nrules: []\n",
        2, "guardrails.frequency_cap", "expected a mapping or off, got 'none'",
    ),
    "end before start": (
        PROMOTION.replace("2027-01-10T00:00:00Z", "2026-11-19T23:59:59Z"),
        7, "rules[0].params.end", "must be after start, or the campaign never runs",
    ),
    "end equal to start": (
        PROMOTION.replace("2027-01-10T00:00:00Z", "2026-11-20T01:00:00+01:00"),
        7, "rules[0].params.end", "must be after start",
    ),
    "timestamp without offset": (
        PROMOTION.replace("2026-11-20T00:00:00Z", "2026-11-20T00:00:00"),
        6, "rules[0].params.start", "expected an RFC 3339 timestamp with an offset",
    ),
    "promotion without params": (
        "rules:\n" + CART + "  - name: sale\n    kind: timed_promotion\n    channel: email\n",
        3, "rules[1]", "missing required key 'params'",
    ),
    "promotion without end": (
        PROMOTION.replace("      end: 2027-01-10T00:00:00Z\n", ""),
        6, "rules[0].params", "missing required key 'end'",
    ),
    "bad send_at": (
        PROMOTION + "      send_at: best_time\n",
        8, "rules[0].params.send_at", "expected one of first_event, best_hour, got 'best_time'",
    ),
    "offer not a mapping": (
        PROMOTION + "      offer: WINTER15\n",
        8, "rules[0].params.offer", "expected a mapping, got 'WINTER15'",
    ),
    "duplicate rule names": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n  - name: cart\n    kind: win_back\n    channel: email\n",
        5, "rules[1].name", "duplicate rule name 'cart', first used at line 2",
    ),
    "duplicate key": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n    channel: email\n",
        5, "rules[0].channel", "duplicate key, first given at line 4",
    ),
    "lifecycle value not a stage": (
        PROMOTION + "      segment:\n        lifecycle: [active, vip]\n",
        9, "rules[0].params.segment.lifecycle[1]", "expected one of new, active, loyal, at_risk, churned, got 'vip'",
    ),
    "rfm value not a segment": (
        PROMOTION + "      segment:\n        rfm: champion\n",
        9, "rules[0].params.segment.rfm", "got 'champion' (did you mean 'champions'?)",
    ),
    "price sensitivity unknown": (
        PROMOTION + "      segment:\n        price_sensitivity:\n          - premium\n          - cheap\n",
        11, "rules[0].params.segment.price_sensitivity[1]", "expected one of bargain_hunter, regular, premium, got 'cheap'",
    ),
    "max_lateness shorter than delay": (
        "rules:\n  - name: i\n    kind: abandoned_interest\n    channel: push\n    params:\n      delay: 3h\n",
        6, "rules[0].params.delay", "max_lateness is shorter than delay",
    ),
    "win_back at_least longer than at_most": (
        "rules:\n  - name: w\n    kind: win_back\n    channel: email\n    params:\n      at_most: 5d\n",
        6, "rules[0].params.at_most", "at_least is longer than at_most",
    ),
    "win_back at_least under a day": (
        "rules:\n  - {name: w, kind: win_back, channel: email, params: {at_least: 12h}}\n",
        2, "rules[0].params.at_least", "must be at least 1d: silence is judged once a day",
    ),
    "win_back churn_multiple below 1": (
        "rules:\n  - {name: w, kind: win_back, channel: email, params: {churn_multiple: 0.5}}\n",
        2, "rules[0].params.churn_multiple", "must be at least 1: a user is at risk before they churn",
    ),
    "win_back min_gaps beyond the kept ones": (
        "rules:\n  - {name: w, kind: win_back, channel: email, params: {min_gaps: 9}}\n",
        2, "rules[0].params.min_gaps", "must be at most 8: the profile keeps the gaps between its latest 9 visits",
    ),
    "win_back churned_offer not a mapping": (
        "rules:\n  - {name: w, kind: win_back, channel: email, params: {churned_offer: 15}}\n",
        2, "rules[0].params.churned_offer", "expected a mapping",
    ),
    "min_views zero": (
        "rules:\n  - {name: i, kind: abandoned_interest, channel: push, params: {min_views: 0}}\n",
        2, "rules[0].params.min_views", "must be at least 1, got '0'",
    ),
    "priority not a number": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n    priority: high\n",
        5, "rules[0].priority", "expected a whole number, got 'high'",
    ),
    "bad rule name": (
        "rules:\n  - name: Abandoned Cart\n    kind: abandoned_cart\n    channel: push\n",
        2, "rules[0].name", "lowercase letters, digits, _ and -",
    ),
    "rule name too long": (
        "rules:\n  - name: " + "c" * 65 + "\n    kind: abandoned_cart\n    channel: push\n",
        2, "rules[0].name", "1 to 64 lowercase letters",
    ),
    "channel with no value": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n    channel:\n",
        4, "rules[0].channel", "expected a channel name, a list of them, or best, got no value",
    ),
    "yaml syntax error": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n   channel: push\n",
        4, "", "invalid YAML: expected <block end>",
    ),
    "rules not a list": (
        "guardrails:\n  attribution_window: 1h\nrules:\n  name: cart\n  kind: abandoned_cart\n",
        4, "rules", "expected a list, got a mapping",
    ),
    "rule not a mapping": ("rules:\n" + CART + "  - cart\n", 3, "rules[1]", "expected a mapping, got 'cart'"),
    "params a list": (
        "rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n    params:\n      - delay: 30m\n",
        6, "rules[0].params", "expected a mapping, got a list",
    ),
}


@pytest.mark.parametrize(("text", "line", "key_path", "problem"), ERRORS.values(), ids=ERRORS.keys())
def test_error_names_the_key_and_its_line(text, line, key_path, problem):
    with pytest.raises(RulesError) as caught:
        parse_rulebook(text, source="rules.yaml")
    error = caught.value
    assert (error.line, error.key_path) == (line, key_path)
    where = f"rules.yaml line {line}: {key_path}: " if key_path else f"rules.yaml line {line}: "
    assert str(error).startswith(where), str(error)
    assert problem in str(error)


def test_error_message_format_and_type():
    with pytest.raises(ValueError) as caught:  # a RulesError is a ValueError
        parse_rulebook("rules:\n  - {name: cart, kind: abandoned_cart, channel: push, params: {delay: soon}}\n")
    assert str(caught.value) == (
        "<rules> line 2: rules[0].params.delay: expected a duration like 30m, 2h or 1d, got 'soon'"
    )


def test_rules_error_survives_pickling():
    with pytest.raises(RulesError) as caught:
        parse_rulebook("rules: {}\n", source="r.yaml")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (str(copy), copy.source, copy.line, copy.key_path) == (
        str(caught.value), "r.yaml", 1, "rules",
    )


def test_load_rulebook_file_names_the_file(tmp_path):
    good = tmp_path / "rules.yaml"
    good.write_text("rules:\n" + CART, encoding="utf-8")
    assert [rule.name for rule in load_rulebook_file(good).rules] == ["cart"]

    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: cart, kind: cart, channel: push}\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"^.*bad\.yaml line 2: rules\[0\]\.kind: "):
        load_rulebook_file(bad)


def test_missing_file_is_a_rules_error(tmp_path):
    with pytest.raises(RulesError) as caught:
        load_rulebook_file(tmp_path / "absent.yaml")
    assert caught.value.line is None
    assert str(caught.value).startswith(f"{tmp_path / 'absent.yaml'}: cannot read the rules file")
