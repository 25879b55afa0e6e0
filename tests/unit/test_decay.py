"""DecayedScores: exponential decay in event time, top-k, the cap, re-basing and the stored form.

Weights and times are chosen so every expectation is exact in binary floating point:
a weight read ``n`` half-lives later is ``weight / 2**n``.
"""

from __future__ import annotations

import json
import random

import pytest

from streams.config import HOUR_MS
from streams.decay import DecayedScores

HALF_LIFE_MS = 24 * HOUR_MS
T_MS = 1_795_597_200_000
CAP = 10


def add(scores: DecayedScores, key: str, weight: float, ts_ms: int, *, cap: int = CAP) -> None:
    scores.add(key, weight, ts_ms=ts_ms, half_life_ms=HALF_LIFE_MS, cap=cap)


def value(scores: DecayedScores, key: str, now_ms: int) -> float:
    return scores.value(key, now_ms=now_ms, half_life_ms=HALF_LIFE_MS)


# --- decay ----------------------------------------------------------------------------------


def test_value_at_the_time_of_the_add_is_the_weight():
    scores = DecayedScores()
    add(scores, "shoes", 3.0, T_MS)
    assert value(scores, "shoes", T_MS) == 3.0


def test_one_half_life_later_is_exactly_half():
    scores = DecayedScores()
    add(scores, "shoes", 3.0, T_MS)
    assert value(scores, "shoes", T_MS + 24 * HOUR_MS) == 1.5


def test_two_half_lives_later_is_exactly_a_quarter():
    scores = DecayedScores()
    add(scores, "shoes", 3.0, T_MS)
    assert value(scores, "shoes", T_MS + 48 * HOUR_MS) == 0.75


def test_half_a_half_life_is_one_over_root_two():
    scores = DecayedScores()
    add(scores, "shoes", 2.0, T_MS)
    assert value(scores, "shoes", T_MS + 12 * HOUR_MS) == pytest.approx(2.0 / 2**0.5, rel=1e-12)


def test_weights_added_at_different_times_sum_their_decayed_values():
    scores = DecayedScores()
    add(scores, "shoes", 1.0, T_MS)
    add(scores, "shoes", 2.0, T_MS + HALF_LIFE_MS)
    add(scores, "shoes", 4.0, T_MS + 2 * HALF_LIFE_MS)
    # Read at T + 3 half-lives: 1/8 + 2/4 + 4/2.
    assert value(scores, "shoes", T_MS + 3 * HALF_LIFE_MS) == 0.125 + 0.5 + 2.0
    # Read at the latest add: 1/4 + 2/2 + 4.
    assert value(scores, "shoes", T_MS + 2 * HALF_LIFE_MS) == 5.25


def test_a_late_weight_counts_less_by_its_age():
    scores = DecayedScores()
    add(scores, "shoes", 4.0, T_MS + 2 * HALF_LIFE_MS)
    add(scores, "shoes", 4.0, T_MS)  # arrives late, two half-lives older
    assert value(scores, "shoes", T_MS + 2 * HALF_LIFE_MS) == 4.0 + 1.0


def test_a_late_weight_ranks_below_an_equal_recent_one():
    scores = DecayedScores()
    add(scores, "recent", 2.0, T_MS + HALF_LIFE_MS)
    add(scores, "old", 2.0, T_MS)  # late
    assert scores.top(2) == ["recent", "old"]
    assert value(scores, "old", T_MS + HALF_LIFE_MS) == 1.0


def test_unknown_key_and_empty_scores_read_zero():
    scores = DecayedScores()
    assert value(scores, "shoes", T_MS) == 0.0
    assert scores.decayed(now_ms=T_MS, half_life_ms=HALF_LIFE_MS) == {}
    add(scores, "shoes", 1.0, T_MS)
    assert value(scores, "books", T_MS) == 0.0


def test_decayed_reads_every_key_at_one_moment():
    scores = DecayedScores()
    add(scores, "shoes", 4.0, T_MS)
    add(scores, "books", 1.0, T_MS + HALF_LIFE_MS)
    assert scores.decayed(now_ms=T_MS + 2 * HALF_LIFE_MS, half_life_ms=HALF_LIFE_MS) == {"shoes": 1.0, "books": 0.5}


def test_the_half_life_is_a_read_parameter():
    scores = DecayedScores()
    scores.add("shoes", 8.0, ts_ms=T_MS, half_life_ms=HOUR_MS, cap=CAP)
    assert scores.value("shoes", now_ms=T_MS + 3 * HOUR_MS, half_life_ms=HOUR_MS) == 1.0


# --- top-k ----------------------------------------------------------------------------------


def test_top_is_strongest_first_by_decayed_value():
    scores = DecayedScores()
    add(scores, "a", 4.0, T_MS)  # 1.0 at T + 2 half-lives
    add(scores, "b", 3.0, T_MS + 2 * HALF_LIFE_MS)  # 3.0
    add(scores, "c", 4.0, T_MS + HALF_LIFE_MS)  # 2.0
    assert scores.top(3) == ["b", "c", "a"]
    assert scores.top(1) == ["b"]
    assert scores.top(10) == ["b", "c", "a"]


def test_top_breaks_ties_by_the_smaller_key_whatever_the_insertion_order():
    for order in (("b", "c", "a"), ("a", "b", "c"), ("c", "a", "b")):
        scores = DecayedScores()
        for key in order:
            add(scores, key, 1.0, T_MS)
        add(scores, "z", 2.0, T_MS)
        assert scores.top(4) == ["z", "a", "b", "c"]


def test_top_ties_across_time_are_ties_of_decayed_value():
    scores = DecayedScores()
    add(scores, "m", 2.0, T_MS)  # 1.0 one half-life later
    add(scores, "k", 1.0, T_MS + HALF_LIFE_MS)  # 1.0
    assert scores.top(2) == ["k", "m"]


# --- the cap --------------------------------------------------------------------------------


def test_a_new_key_beyond_the_cap_evicts_the_weakest():
    scores = DecayedScores()
    add(scores, "a", 3.0, T_MS, cap=3)
    add(scores, "b", 1.0, T_MS, cap=3)
    add(scores, "c", 2.0, T_MS, cap=3)
    add(scores, "d", 0.5, T_MS, cap=3)
    assert set(scores.scores) == {"a", "c", "d"}
    assert len(scores) == 3


def test_the_weakest_is_judged_after_decay_not_by_raw_weight():
    scores = DecayedScores()
    add(scores, "old", 3.0, T_MS, cap=2)  # 0.75 two half-lives later
    add(scores, "new", 1.0, T_MS + 2 * HALF_LIFE_MS, cap=2)  # 1.0
    add(scores, "next", 1.0, T_MS + 2 * HALF_LIFE_MS, cap=2)
    assert set(scores.scores) == {"new", "next"}


def test_an_existing_key_at_the_cap_evicts_nothing():
    scores = DecayedScores()
    add(scores, "a", 1.0, T_MS, cap=2)
    add(scores, "b", 2.0, T_MS, cap=2)
    add(scores, "a", 1.0, T_MS, cap=2)
    assert scores.decayed(now_ms=T_MS, half_life_ms=HALF_LIFE_MS) == {"a": 2.0, "b": 2.0}


def test_eviction_among_ties_does_not_depend_on_insertion_order():
    kept = set()
    for order in (("a", "b"), ("b", "a")):
        scores = DecayedScores()
        for key in order:
            add(scores, key, 1.0, T_MS, cap=2)
        add(scores, "c", 5.0, T_MS, cap=2)
        assert len(scores) == 2 and "c" in scores.scores
        kept.add(frozenset(scores.scores))
    assert len(kept) == 1


def test_the_key_evicted_at_the_cap_is_the_one_top_lists_last():
    rng = random.Random(7)
    for _ in range(500):
        scores = DecayedScores()
        for n in range(8):  # few distinct weights, so ties are common
            add(scores, f"k{rng.randrange(30)}", float(rng.randrange(1, 4)), T_MS + n, cap=8)
        last = scores.top(len(scores))[-1]
        add(scores, "newcomer", 100.0, T_MS + 9, cap=len(scores))
        assert last not in scores.scores and "newcomer" in scores.scores


def test_cap_of_one_keeps_only_the_latest_key():
    scores = DecayedScores()
    add(scores, "a", 9.0, T_MS, cap=1)
    add(scores, "b", 1.0, T_MS, cap=1)
    assert scores.top(5) == ["b"]
    assert value(scores, "a", T_MS) == 0.0


# --- re-basing ------------------------------------------------------------------------------


def test_rebase_keeps_every_value():
    scores = DecayedScores()
    add(scores, "old", 1.0, T_MS)
    later_ms = T_MS + 100 * HALF_LIFE_MS
    before = value(scores, "old", later_ms)
    assert before == 2.0**-100
    add(scores, "new", 1.0, later_ms)  # 100 half-lives past the reference: re-bases first
    assert scores.ref_ms == later_ms
    assert value(scores, "old", later_ms) == pytest.approx(before, rel=1e-9)
    assert value(scores, "new", later_ms) == 1.0
    assert value(scores, "new", later_ms + HALF_LIFE_MS) == 0.5
    assert scores.top(2) == ["new", "old"]


def test_rebase_keeps_stored_numbers_small():
    scores = DecayedScores()
    for day in range(0, 400, 10):
        add(scores, "daily", 1.0, T_MS + day * HALF_LIFE_MS)
    assert max(scores.scores.values()) < 2.0**41
    # 1 + 2**-10 + 2**-20 + ...: the geometric sum, read at the latest add.
    assert value(scores, "daily", T_MS + 390 * HALF_LIFE_MS) == pytest.approx(1 / (1 - 2.0**-10), rel=1e-9)


def test_no_rebase_within_forty_half_lives():
    scores = DecayedScores()
    add(scores, "a", 1.0, T_MS)
    add(scores, "b", 1.0, T_MS + 40 * HALF_LIFE_MS)
    assert scores.ref_ms == T_MS
    assert value(scores, "b", T_MS + 40 * HALF_LIFE_MS) == 1.0


# --- stored form ----------------------------------------------------------------------------


def test_to_dict_from_dict_round_trips_through_json():
    scores = DecayedScores()
    add(scores, "shoes", 3.0, T_MS)
    add(scores, "books", 1.0, T_MS + HALF_LIFE_MS)
    data = scores.to_dict()
    assert data == {"ref_ms": T_MS, "scores": {"shoes": 3.0, "books": 2.0}}
    restored = DecayedScores.from_dict(json.loads(json.dumps(data)))
    assert restored == scores
    assert value(restored, "shoes", T_MS + 2 * HALF_LIFE_MS) == 0.75
    # The copy keeps learning exactly as the original does, and does not share its dict.
    add(restored, "socks", 4.0, T_MS + 2 * HALF_LIFE_MS, cap=2)
    add(scores, "socks", 4.0, T_MS + 2 * HALF_LIFE_MS, cap=2)
    assert restored == scores
    assert data["scores"] == {"shoes": 3.0, "books": 2.0}


def test_empty_scores_round_trip():
    data = DecayedScores().to_dict()
    assert data == {"ref_ms": None, "scores": {}}
    assert DecayedScores.from_dict(json.loads(json.dumps(data))) == DecayedScores()


def test_equality_notices_a_different_score():
    scores = DecayedScores()
    add(scores, "shoes", 1.0, T_MS)
    other = DecayedScores.from_dict(scores.to_dict())
    add(other, "shoes", 1.0, T_MS)
    assert other != scores


def test_eviction_drops_the_key_top_would_list_last():
    scores = DecayedScores()
    for key in ("b", "a", "c"):
        scores.add(key, 1.0, ts_ms=0, half_life_ms=HOUR_MS, cap=3)
    assert scores.top(3) == ["a", "b", "c"]
    scores.add("d", 2.0, ts_ms=0, half_life_ms=HOUR_MS, cap=3)
    assert scores.top(3) == ["d", "a", "b"]  # of the tied three, "c" ranked last and went
