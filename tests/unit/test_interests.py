"""Interests: decayed category and product affinities, and searches mapped to categories.

Weights: view 1, search 2, add_to_cart 3, purchase 5 (per line item); remove adds nothing.
The default half-life is 24 h, so a weight read a day later counts half.
"""

from __future__ import annotations

import json

from builders import MINUTE_MS, T0_MS, add, cart_book, feed, item, profile_of, purchase, remove, search, view
from streams.config import DAY_MS, HOUR_MS, ProfileConfig
from streams.keywords import KeywordMap, keywords
from streams.partition import PartitionEngine
from streams.population import Population
from streams.profile import Profile, new_profile, update_profile

CONFIG = ProfileConfig()
HALF_LIFE_MS = CONFIG.interest_half_life_ms




def categories(profile: Profile, now_ms: int) -> dict[str, float]:
    return profile.categories.decayed(now_ms=now_ms, half_life_ms=HALF_LIFE_MS)


def products(profile: Profile, now_ms: int) -> dict[str, float]:
    return profile.products.decayed(now_ms=now_ms, half_life_ms=HALF_LIFE_MS)


def test_default_half_life_is_a_day():
    assert HALF_LIFE_MS == 24 * HOUR_MS


# --- weights --------------------------------------------------------------------------------


def test_a_view_weighs_one_for_category_and_product():
    profile = profile_of(view("u1", T0_MS, "p1", category="shoes"))
    assert categories(profile, T0_MS) == {"shoes": 1.0}
    assert products(profile, T0_MS) == {"p1": 1.0}


def test_an_add_to_cart_weighs_three():
    profile = profile_of(add("u1", T0_MS, "p1", quantity=4, category="shoes"))  # quantity does not scale it
    assert categories(profile, T0_MS) == {"shoes": 3.0}
    assert products(profile, T0_MS) == {"p1": 3.0}


def test_a_search_with_a_category_weighs_two_for_the_category_only():
    profile = profile_of(search("u1", T0_MS, "trail runners", category="outdoor"))
    assert categories(profile, T0_MS) == {"outdoor": 2.0}
    assert products(profile, T0_MS) == {}


def test_a_purchase_weighs_five_per_line_item():
    profile = profile_of(
        purchase("u1", T0_MS, [item("p1", 10.0, 3, category="shoes"), item("p2", 5.0, category="shoes"), item("p3", 1.0, category="socks")])
    )
    assert categories(profile, T0_MS) == {"shoes": 10.0, "socks": 5.0}
    assert products(profile, T0_MS) == {"p1": 5.0, "p2": 5.0, "p3": 5.0}


def test_a_remove_adds_nothing():
    profile = profile_of(add("u1", T0_MS, "p1", category="shoes"), remove("u1", T0_MS, "p1", category="shoes"))
    assert categories(profile, T0_MS) == {"shoes": 3.0}
    assert products(profile, T0_MS) == {"p1": 3.0}
    alone = profile_of(remove("u1", T0_MS, "p9", category="hats"))
    assert categories(alone, T0_MS) == {} and products(alone, T0_MS) == {}


def test_weights_of_every_kind_add_up_at_one_moment():
    profile = profile_of(
        view("u1", T0_MS, "p1"),
        add("u1", T0_MS, "p1"),
        search("u1", T0_MS, "shoes", category="shoes"),
        purchase("u1", T0_MS, [item("p1", 10.0)]),
    )
    assert categories(profile, T0_MS) == {"shoes": 1.0 + 3.0 + 2.0 + 5.0}
    assert products(profile, T0_MS) == {"p1": 1.0 + 3.0 + 5.0}


# --- decay ----------------------------------------------------------------------------------


def test_a_view_a_day_later_adds_to_the_decayed_first():
    profile = profile_of(view("u1", T0_MS, "p1"), view("u1", T0_MS + DAY_MS, "p1"))
    assert categories(profile, T0_MS + DAY_MS) == {"shoes": 1.5}
    assert products(profile, T0_MS + DAY_MS) == {"p1": 1.5}
    assert categories(profile, T0_MS + 2 * DAY_MS) == {"shoes": 0.75}


def test_a_recent_view_outranks_an_older_purchase_once_it_has_faded():
    profile = profile_of(
        purchase("u1", T0_MS, [item("old", 10.0, category="tents")]),  # 5 -> 0.625 three days later
        view("u1", T0_MS + 3 * DAY_MS, "new", category="lamps"),  # 1
    )
    assert profile.categories.top(2) == ["lamps", "tents"]
    assert categories(profile, T0_MS + 3 * DAY_MS) == {"tents": 0.625, "lamps": 1.0}


def test_a_configured_half_life_is_used():
    config = ProfileConfig(interest_half_life_ms=HOUR_MS)
    profile = new_profile(view("u1", T0_MS))
    for event in (view("u1", T0_MS), view("u1", T0_MS + HOUR_MS)):
        update_profile(profile, event, config=config, population=Population())
    assert profile.categories.value("shoes", now_ms=T0_MS + HOUR_MS, half_life_ms=HOUR_MS) == 1.5
    assert profile.view(now_ms=T0_MS + 2 * HOUR_MS, config=config)["interests"]["top_categories"] == [{"key": "shoes", "score": 0.75}]


def test_max_categories_caps_the_profile():
    config = ProfileConfig(max_categories=2, max_products=2)
    events = [
        add("u1", T0_MS, "p1", category="a"),
        view("u1", T0_MS, "p2", category="b"),
        add("u1", T0_MS, "p3", category="c"),
    ]
    profile = new_profile(events[0])
    for event in events:
        update_profile(profile, event, config=config, population=Population())
    assert set(profile.categories.scores) == {"a", "c"}
    assert set(profile.products.scores) == {"p1", "p3"}


# --- the view -------------------------------------------------------------------------------


def test_view_lists_top_categories_and_products_decayed_to_now():
    profile = profile_of(
        view("u1", T0_MS, "p1", category="shoes"),
        view("u1", T0_MS, "p2", category="socks"),
        add("u1", T0_MS, "p2", category="socks"),
        purchase("u1", T0_MS, [item("p3", 20.0, category="hats")]),
    )
    interests = profile.view(now_ms=T0_MS + DAY_MS, config=CONFIG)["interests"]
    assert interests == {
        "half_life_hours": 24.0,
        "top_categories": [{"key": "hats", "score": 2.5}, {"key": "socks", "score": 2.0}, {"key": "shoes", "score": 0.5}],
        "top_products": [{"key": "p3", "score": 2.5}, {"key": "p2", "score": 2.0}, {"key": "p1", "score": 0.5}],
    }


def test_view_shows_at_most_five_and_rounds_to_four_places():
    events = [view("u1", T0_MS, f"p{n}", category=f"c{n}") for n in range(7)]
    profile = profile_of(*events, view("u1", T0_MS + MINUTE_MS, "p6", category="c6"))
    top = profile.view(now_ms=T0_MS + 3 * HOUR_MS, config=CONFIG)["interests"]["top_categories"]
    assert [entry["key"] for entry in top] == ["c6", "c0", "c1", "c2", "c3"]  # ties by name after the strongest
    assert top[1]["score"] == round(2 ** (-3 / 24), 4)


# --- searches and keywords ------------------------------------------------------------------


def test_keywords_casefold_drop_one_letter_words_and_repeats():
    assert keywords("A Red  Running-Shoes, red! x") == ("red", "running", "shoes")
    assert keywords("I want a TV") == ("want", "tv")
    assert keywords("Straße") == ("strasse",)
    assert keywords("a b c") == ()


def test_keywords_keep_at_most_five():
    assert keywords("one two three four five six seven") == ("one", "two", "three", "four", "five")


def test_a_search_without_category_and_nothing_learned_adds_nothing():
    profile = profile_of(search("u1", T0_MS, "running shoes"))
    assert categories(profile, T0_MS) == {}


def test_a_search_then_view_in_one_session_teaches_the_next_searcher():
    population = Population()
    feed(population, search("u1", T0_MS, "Running Shoes"), view("u1", T0_MS + MINUTE_MS, "p1", category="sneakers"))
    assert population.keywords.votes == {"running": {"sneakers": 1}, "shoes": {"sneakers": 1}}
    searcher = feed(population, search("u2", T0_MS + HOUR_MS, "shoes for running"))
    assert categories(searcher, T0_MS + HOUR_MS) == {"sneakers": 2.0}
    assert products(searcher, T0_MS + HOUR_MS) == {}


def test_a_named_category_beats_the_keyword_map():
    population = Population()
    feed(population, search("u1", T0_MS, "boots"), view("u1", T0_MS + 1, category="shoes"))
    searcher = feed(population, search("u2", T0_MS + 2, "boots", category="rain"))
    assert categories(searcher, T0_MS + 2) == {"rain": 2.0}


def test_only_the_first_view_after_a_search_votes():
    population = Population()
    feed(population, search("u1", T0_MS, "boots"), view("u1", T0_MS + 1, category="shoes"), view("u1", T0_MS + 2, category="hats"))
    assert population.keywords.votes == {"boots": {"shoes": 1}}


def test_a_view_in_a_new_session_after_the_gap_learns_nothing():
    population = Population()
    profile = feed(population, search("u1", T0_MS, "boots"), view("u1", T0_MS + CONFIG.session_gap_ms, category="shoes"))
    assert profile.session.count == 2
    assert population.keywords.votes == {}
    searcher = feed(population, search("u2", T0_MS + HOUR_MS, "boots"))
    assert categories(searcher, T0_MS + HOUR_MS) == {}


def test_a_view_under_another_shop_session_learns_nothing():
    population = Population()
    feed(population, search("u1", T0_MS, "boots", session_id="s1"), view("u1", T0_MS + 1, category="shoes", session_id="s2"))
    assert population.keywords.votes == {}
    feed(population, search("u3", T0_MS, "boots", session_id="s3"), view("u3", T0_MS + HOUR_MS, category="shoes", session_id="s3"))
    assert population.keywords.votes == {"boots": {"shoes": 1}}  # same shop session, however long


def test_learning_needs_the_view_just_before_the_gap():
    population = Population()
    feed(population, search("u1", T0_MS, "boots"), view("u1", T0_MS + CONFIG.session_gap_ms - 1, category="shoes"))
    assert population.keywords.votes == {"boots": {"shoes": 1}}


def test_the_map_follows_the_most_votes():
    votes = KeywordMap()
    votes.learn(("boots",), "shoes")
    votes.learn(("boots", "rain"), "outdoor")
    votes.learn(("rain",), "outdoor")
    assert votes.category_for(("boots",)) == "outdoor"  # 1 - 1 tie: the smaller name
    assert votes.category_for(("boots", "rain")) == "outdoor"
    votes.learn(("boots",), "shoes")
    assert votes.category_for(("boots",)) == "shoes"
    assert votes.category_for(("lamp",)) is None


def test_the_profile_keeps_no_query_text_once_a_view_follows():
    query = "Zanzibar Quokka Lantern"
    profile = profile_of(search("u1", T0_MS, query), view("u1", T0_MS + MINUTE_MS, category="lamps"))
    stored = json.dumps(profile.to_dict()).casefold()
    assert query.casefold() not in stored
    for word in ("zanzibar", "quokka", "lantern"):
        assert word not in stored
    assert profile.pending_keywords == ()


def test_the_profile_keeps_no_query_text_once_a_new_session_clears_it():
    query = "Zanzibar Quokka Lantern"
    profile = profile_of(search("u1", T0_MS, query), add("u1", T0_MS + 2 * HOUR_MS, category="lamps"))
    stored = json.dumps(profile.to_dict()).casefold()
    assert "zanzibar" not in stored and "quokka" not in stored and "lantern" not in stored


def test_pending_keywords_are_words_not_the_query():
    profile = profile_of(search("u1", T0_MS, "Zanzibar, Quokka!"))
    assert profile.pending_keywords == ("zanzibar", "quokka")
    assert "Zanzibar, Quokka!" not in json.dumps(profile.to_dict())


def test_keywords_of_a_session_that_ended_without_a_view_are_gone_after_the_daily_sweep():
    engine = PartitionEngine(store={}, book=cart_book())
    engine.on_event(search("u1", T0_MS, "trail runners", category=None))
    assert engine.store["u1"].profile.pending_keywords == ("trail", "runners")
    engine.on_event(view("u2", T0_MS + DAY_MS))  # the clock passes midnight: the sweep runs
    assert engine.store["u1"].profile.pending_keywords == ()
    assert "trail" not in json.dumps(engine.store["u1"].profile.to_dict())
