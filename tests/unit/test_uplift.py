"""Uplift you can trust: a fair holdout, the counts it is measured from, and an interval that
says when the difference is noise."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from pathlib import Path

import orjson
import pytest
from test_cli import nudge

from agents.generate import planted_cart_effect, write_recording
from agents.recording import BadLine, open_recording, read_recording
from agents.records import decode_population, encode_population
from agents.replay import replay_offline
from agents.uplift_report import from_local, local_json, uplift_json, uplift_table
from schemas.outputs import Suppression, SuppressionReason, Trigger
from streams.config import ProfileConfig
from streams.population import Population
from streams.replay import OfflineReplay
from streams.rules.loading import default_rulebook
from streams.rules.spec import RuleBook
from streams.traffic import ShopSimulator
from streams.uplift import RuleOutcomes, estimate, total, wilson

SHOP_START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z
NIGHT_START_MS = 1_795_647_600_000  # 2026-11-25T23:00:00Z: the night, when quiet hours hold treated candidates
PARTITIONS = 4


# --- the estimate -----------------------------------------------------------------------------


def test_the_interval_is_newcombe_s_hybrid_score_interval() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II, example (a): 56/70 against 48/80.
    uplift = estimate("r", RuleOutcomes(treated=70, treated_converted=56, holdout=80, holdout_converted=48))
    assert uplift.uplift == pytest.approx(0.2)
    assert (round(uplift.low, 4), round(uplift.high, 4)) == (0.0524, 0.3339)
    assert uplift.significant


def test_one_conversion_in_each_group_is_noise_however_large_the_difference() -> None:
    # The README's PromQL once showed -0.75 from about one conversion per group.
    uplift = estimate("r", RuleOutcomes(treated=4, treated_converted=1, holdout=1, holdout_converted=1))
    assert uplift.uplift == pytest.approx(-0.75)
    assert uplift.low < 0 < uplift.high and not uplift.significant


def test_a_group_with_no_sends_has_no_rate_and_no_interval() -> None:
    uplift = estimate("r", RuleOutcomes(treated=50, treated_converted=5))
    assert (uplift.treated_rate, uplift.holdout_rate, uplift.uplift, uplift.low, uplift.high) == (0.1, None, None, None, None)
    assert not uplift.significant
    assert uplift.to_dict()["ci95"] is None


def test_the_interval_covers_the_true_difference_95_times_in_100() -> None:
    """Simulated treated and held-out groups of a realistic size: a 95 % interval must cover the
    true uplift about 95 % of the time (Wald's interval covers less at these rates)."""
    rng = random.Random(11)
    p_treated, p_holdout, treated, holdout, trials = 0.06, 0.04, 900, 100, 2_000
    covered = 0
    for _ in range(trials):
        converted_t = sum(rng.random() < p_treated for _ in range(treated))
        converted_h = sum(rng.random() < p_holdout for _ in range(holdout))
        uplift = estimate("r", RuleOutcomes(treated, converted_t, holdout, converted_h))
        covered += uplift.low <= p_treated - p_holdout <= uplift.high
    assert 0.93 <= covered / trials <= 0.98, covered / trials


def test_wilson_stays_within_zero_and_one() -> None:
    assert wilson(0, 3)[0] == 0.0 and wilson(3, 3)[1] == 1.0
    assert all(0.0 <= bound <= 1.0 for successes in range(6) for bound in wilson(successes, 5))


def test_counts_add_up_over_partitions() -> None:
    summed = total([{"a": RuleOutcomes(1, 2, 3, 4)}, {"a": RuleOutcomes(10, 20, 30, 40), "b": RuleOutcomes(1, 0, 0, 0)}, {}])
    assert summed == {"a": RuleOutcomes(11, 22, 33, 44), "b": RuleOutcomes(1, 0, 0, 0)}


# --- the counts, from a replay of the synthetic shop ------------------------------------------


@pytest.fixture(scope="module")
def night_replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict[str, RuleOutcomes]]:
    """60,000 events of 3,000 shoppers from 23:00 UTC, replayed with the default rules."""
    folder = tmp_path_factory.mktemp("uplift")
    recording, out = folder / "shop.jsonl", folder / "out.jsonl"
    write_recording(recording, users=3_000, count=60_000, seed=1, start_ms=NIGHT_START_MS, mean_gap_ms=1_000, partitions=PARTITIONS)
    report = replay_offline(recording, out, book=default_rulebook(), partitions=PARTITIONS, profile_config=ProfileConfig())
    return [orjson.loads(line) for line in out.read_bytes().splitlines()], report.outcomes


def test_the_held_out_share_is_the_configured_fraction_even_from_a_night_start(night_replay) -> None:
    """Drawn before the cap, the night and the expiry, held-out candidates skipped them and made
    12 to 13 % of a night-start replay's sends against a configured 10 %. Drawn last, they are
    the configured share, within the noise of which users hash into it."""
    outputs, _ = night_replay
    sent = Counter(line["value"]["rule"] for line in outputs if line["topic"] == "triggers")
    held = Counter(line["value"]["trigger"]["rule"] for line in outputs if line["topic"] == "suppressions" and line["value"]["reason"] == "holdout")
    assert set(sent) == {"abandoned_cart", "abandoned_cart-follow-up", "abandoned_interest", "winter_sale"}
    assert not held["abandoned_cart-follow-up"], "the cart's holdout never got a reminder to follow up"
    del sent["abandoned_cart-follow-up"]
    fraction = default_rulebook().guardrails.holdout_fraction
    for rule in sent:
        share = held[rule] / (sent[rule] + held[rule])
        assert abs(share - fraction) < 0.02, (rule, share, sent[rule] + held[rule])
    pooled = sum(held.values()) / (sum(sent.values()) + sum(held.values()))
    assert abs(pooled - fraction) < 0.012, pooled


def test_the_partitions_count_exactly_what_they_sent_held_out_and_converted(night_replay) -> None:
    outputs, outcomes = night_replay
    expected: dict[str, RuleOutcomes] = {}
    for line in outputs:
        value = line["value"]
        if line["topic"] == "triggers" and value["rule"] != "abandoned_cart-follow-up":  # part of the cart's treatment, not a send of its own
            expected.setdefault(value["rule"], RuleOutcomes()).treated += 1
        elif line["topic"] == "suppressions" and value["reason"] == "holdout":
            expected.setdefault(value["trigger"]["rule"], RuleOutcomes()).holdout += 1
        elif line["topic"] == "conversions":
            counts = expected.setdefault(value["rule"].removesuffix("-follow-up"), RuleOutcomes())
            if value["group"] == "holdout":
                counts.holdout_converted += 1
            else:
                counts.treated_converted += 1
    assert outcomes == expected
    assert all(counts.treated > 0 and counts.holdout > 0 for counts in outcomes.values()), outcomes
    assert all(sum(getattr(counts, group) for counts in outcomes.values()) > 0 for group in ("treated_converted", "holdout_converted"))


# --- the population record that carries them --------------------------------------------------


def test_the_counts_survive_the_changelog_and_a_record_of_the_previous_format_loads() -> None:
    population = Population(outcomes={"cart": RuleOutcomes(5, 2, 1, 0)})
    assert decode_population(encode_population(population)).outcomes == {"cart": RuleOutcomes(5, 2, 1, 0)}
    previous = {"v": 1, **{key: value for key, value in Population().to_dict().items() if key != "outcomes"}}
    assert decode_population(orjson.dumps(previous)).outcomes == {}  # counted from zero
    with pytest.raises(ValueError, match="format 99"):
        decode_population(orjson.dumps({**previous, "v": 99}))


# --- the report a user reads ------------------------------------------------------------------


def test_a_worker_s_local_counts_round_trip_and_missing_partitions_are_said() -> None:
    counts = {"cart": RuleOutcomes(1_000, 300, 100, 10)}
    assert from_local(orjson.loads(orjson.dumps(local_json(counts, partitions=[3, 1])))) == ([1, 3], counts)
    answer = uplift_json(counts, partitions=[1, 3], of=4)
    assert (answer["complete"], answer["missing_partitions"]) == (False, [0, 2])
    [rule] = answer["rules"]
    assert (rule["treated"]["sent"], rule["holdout"]["converted"], rule["uplift"]) == (1_000, 10, pytest.approx(0.2))
    text = uplift_table(answer)
    assert "INCOMPLETE: partitions [0, 2] did not answer" in text
    assert "+20.0" in text and "significant" in text


def test_nudge_uplift_from_a_recording(tmp_path: Path) -> None:
    recording = tmp_path / "shop.jsonl"
    write_recording(recording, users=300, count=8_000, seed=2, start_ms=NIGHT_START_MS, mean_gap_ms=1_000, partitions=PARTITIONS)
    result = nudge("uplift", "--recording", str(recording), "--json")
    assert result.returncode == 0, result.stderr
    answer = orjson.loads(result.stdout)
    assert answer["complete"] and {rule["rule"] for rule in answer["rules"]} >= {"abandoned_cart", "abandoned_interest"}
    table = nudge("uplift", "--recording", str(recording))
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[:2] == ["rule", "treated"]


def test_nudge_uplift_with_no_worker_says_so_in_one_line() -> None:
    result = nudge("uplift", "--url", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr.startswith("nudge uplift: cannot reach a worker at http://127.0.0.1:9/uplift")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


# --- a shop with a known effect -----------------------------------------------------------------


@pytest.mark.statistical
def test_the_measured_uplift_recovers_an_effect_planted_in_the_shop(tmp_path: Path) -> None:
    """The synthetic shop plants an effect of the cart reminder per persona: a held-out shopper
    (by Nudge's own holdout hash) comes back to buy a walked-away cart less often. The truth, in
    conversions per send, comes from two whole worlds of the same shop, one where the reminder
    reaches everyone and one where it reaches no one, each replayed without a holdout. The
    uplift measured from the usual 10 % holdout must find it inside its interval, and tell it
    from zero."""
    book = default_rulebook()
    planted = planted_cart_effect(book)
    no_holdout = dataclasses.replace(book, guardrails=dataclasses.replace(book.guardrails, holdout_fraction=0.0))

    def shop(holdout_fraction: float) -> Path:
        recording = tmp_path / f"shop-{holdout_fraction}.jsonl"
        write_recording(
            recording, users=3_000, count=120_000, seed=4, start_ms=SHOP_START_MS, mean_gap_ms=600, partitions=PARTITIONS,
            planted=dataclasses.replace(planted, holdout_fraction=holdout_fraction),
        )  # fmt: skip
        return recording

    def cart_outcomes(recording: Path, replayed_with: RuleBook) -> RuleOutcomes:
        report = replay_offline(recording, tmp_path / "out.jsonl", book=replayed_with, partitions=PARTITIONS, profile_config=ProfileConfig())
        return report.outcomes[planted.rule]

    everyone = shop(0.0)  # the reminder reaches every shopper: the shop of the unplanted case too
    reached, unreached = cart_outcomes(everyone, no_holdout), cart_outcomes(shop(1.0), no_holdout)
    truth = reached.treated_converted / reached.treated - unreached.treated_converted / unreached.treated
    measured = estimate(planted.rule, cart_outcomes(shop(planted.holdout_fraction), book))
    assert measured.low <= truth <= measured.high, (truth, measured)
    assert measured.significant and truth > 0.05
    # Where the reminder moves no one (its holdout shops like the rest), no uplift is found.
    unplanted = estimate(planted.rule, cart_outcomes(everyone, book))
    assert unplanted.low <= 0 <= unplanted.high, unplanted


@pytest.mark.statistical
def test_gating_by_learned_uplift_keeps_most_of_the_planted_effect_from_fewer_sends(tmp_path: Path) -> None:
    """The T-learner learns, per cart reminder, who it moves. Ranked by the uplift it predicted
    (what a rule's ``min_uplift`` cuts), the top 60 % of the second half's reminders (sends and
    ghost sends: the learners warm up on the first half) must hold at least 80 % of the planted
    extra conversions, the persona's planted effect summed over them. A random 60 % holds 60 %; the
    best possible, ranked by the true persona, about 90 %. The reminder is held out from 30 % of
    shoppers here, not the usual 10 %: the held-out learner learns only from ghost sends, and at
    10 % it has too few of them in a shop this size. Over four seeds of this shop the share kept
    was 0.77 to 0.85 (README, *Models*): this is the first of them, not the best."""
    book = default_rulebook()
    rules = tuple(dataclasses.replace(rule, holdout_fraction=0.3) if rule.name == "abandoned_cart" else rule for rule in book.rules)
    book = dataclasses.replace(book, rules=rules)
    planted = planted_cart_effect(book)
    recording = tmp_path / "shop.jsonl"
    users, seed = 5_000, 6
    write_recording(recording, users=users, count=300_000, seed=seed, start_ms=SHOP_START_MS, mean_gap_ms=600, partitions=1, planted=planted)
    personas = ShopSimulator(users=users, seed=seed, start_ms=SHOP_START_MS, mean_gap_ms=600).personas
    replay = OfflineReplay(book, partitions=1)
    reminders: list[Trigger] = []
    with open_recording(recording, "r") as source:
        for item in read_recording(source):
            assert not isinstance(item, BadLine)
            for output in replay.feed(item.message):
                trigger = output.trigger if isinstance(output, Suppression) and output.reason is SuppressionReason.HOLDOUT else output
                if isinstance(trigger, Trigger) and trigger.rule == planted.rule:
                    reminders.append(trigger)
    second_half = reminders[len(reminders) // 2 :]
    assert len(second_half) > 1_500 and all(trigger.uplift is not None for trigger in second_half)
    ranked = sorted(second_half, key=lambda trigger: -trigger.uplift)  # type: ignore[operator]
    kept = ranked[: int(0.6 * len(ranked))]
    extra = sum(planted.effect(personas[trigger.user_id]) for trigger in kept) / sum(planted.effect(personas[trigger.user_id]) for trigger in ranked)
    assert extra >= 0.80, extra
