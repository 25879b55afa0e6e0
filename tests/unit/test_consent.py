"""Consent: the latest word in event time per channel, with "all" speaking for every channel."""

from __future__ import annotations

from builders import MINUTE_MS, T0_MS, cart_book, consent, view
from schemas.events import ALL_CHANNELS
from streams.config import HOUR_MS, ProfileConfig
from streams.partition import PartitionEngine
from streams.population import Population
from streams.process import Core
from streams.profile import Profile, new_profile, update_profile

CONFIG = ProfileConfig()


def feed(profile: Profile, *events, config: ProfileConfig = CONFIG) -> Profile:
    for event in events:
        update_profile(profile, event, config=config, population=Population())
    return profile


def profile_of(*events) -> Profile:
    return feed(new_profile(events[0]), *events)


def test_all_is_the_every_channel_name():
    assert ALL_CHANNELS == "all"


# --- defaults -------------------------------------------------------------------------------


def test_a_channel_never_spoken_about_takes_the_default():
    profile = profile_of(view("u1", T0_MS))
    assert profile.consent_for("email", default=True) is True
    assert profile.consent_for("email", default=False) is False


def test_the_configured_default_reaches_the_caller():
    strict = ProfileConfig(consent_default=False)
    assert CONFIG.consent_default is True
    profile = profile_of(view("u1", T0_MS), consent("u1", T0_MS + 1, "sms", True))
    assert profile.consent_for("email", default=strict.consent_default) is False
    assert profile.consent_for("email", default=CONFIG.consent_default) is True
    assert profile.consent_for("sms", default=strict.consent_default) is True
    assert profile.view(now_ms=T0_MS + 1, config=strict)["consent_default"] is False


# --- per channel and "all" ------------------------------------------------------------------


def test_a_channel_opt_out_only_affects_that_channel():
    profile = profile_of(view("u1", T0_MS), consent("u1", T0_MS + 1, "email", False))
    assert profile.consent_for("email", default=True) is False
    assert profile.consent_for("push", default=True) is True


def test_an_opt_in_overrides_a_false_default():
    profile = profile_of(consent("u1", T0_MS, "push", True))
    assert profile.consent_for("push", default=False) is True


def test_a_later_all_opt_out_overrides_an_earlier_channel_opt_in():
    profile = profile_of(consent("u1", T0_MS, "email", True), consent("u1", T0_MS + MINUTE_MS, ALL_CHANNELS, False))
    assert profile.consent_for("email", default=True) is False
    assert profile.consent_for("push", default=True) is False
    assert profile.consent_for("sms", default=True) is False


def test_a_later_channel_opt_in_overrides_an_earlier_all_opt_out():
    profile = profile_of(consent("u1", T0_MS, ALL_CHANNELS, False), consent("u1", T0_MS + MINUTE_MS, "email", True))
    assert profile.consent_for("email", default=False) is True
    assert profile.consent_for("push", default=True) is False


def test_a_later_all_opt_in_overrides_an_earlier_channel_opt_out():
    profile = profile_of(consent("u1", T0_MS, "email", False), consent("u1", T0_MS + 1, ALL_CHANNELS, True))
    assert profile.consent_for("email", default=False) is True


def test_a_channel_word_at_the_same_moment_as_all_wins():
    profile = profile_of(consent("u1", T0_MS, ALL_CHANNELS, False), consent("u1", T0_MS, "email", True))
    assert profile.consent_for("email", default=False) is True
    assert profile.consent_for("push", default=True) is False


def test_the_order_of_arrival_does_not_matter_between_all_and_a_channel():
    # The channel opt-in is newer, but arrives first: the older "all" opt-out must not win.
    profile = profile_of(consent("u1", T0_MS + MINUTE_MS, "email", True), consent("u1", T0_MS, ALL_CHANNELS, False))
    assert profile.consent_for("email", default=False) is True
    assert profile.consent_for("push", default=True) is False


# --- late messages --------------------------------------------------------------------------


def test_a_late_consent_does_not_undo_a_newer_one():
    profile = profile_of(consent("u1", T0_MS + HOUR_MS, "email", False), consent("u1", T0_MS, "email", True))
    assert profile.consent_for("email", default=True) is False
    assert profile.consents["email"] == [False, T0_MS + HOUR_MS]


def test_a_late_all_opt_in_does_not_undo_a_newer_all_opt_out():
    profile = profile_of(consent("u1", T0_MS + HOUR_MS, ALL_CHANNELS, False), consent("u1", T0_MS, ALL_CHANNELS, True))
    assert profile.consent_for("email", default=True) is False


def test_a_newer_consent_replaces_the_older():
    profile = profile_of(consent("u1", T0_MS, "email", False), consent("u1", T0_MS + 1, "email", True))
    assert profile.consent_for("email", default=False) is True
    assert profile.consents["email"] == [True, T0_MS + 1]


def test_view_lists_consents_with_their_time():
    profile = profile_of(consent("u1", T0_MS, "sms", False), consent("u1", T0_MS + 1, "email", True))
    assert profile.view(now_ms=T0_MS + 1, config=CONFIG)["consents"] == {
        "email": {"granted": True, "at": "2026-11-25T09:00:00.001Z"},
        "sms": {"granted": False, "at": "2026-11-25T09:00:00.000Z"},
    }


# --- consent is not activity ----------------------------------------------------------------


def test_consent_leaves_activity_alone():
    profile = profile_of(view("u1", T0_MS))
    before = profile.to_dict()
    feed(profile, consent("u1", T0_MS + 2 * HOUR_MS, "email", False), consent("u1", T0_MS - HOUR_MS, "sms", True))
    after = profile.to_dict()
    for key in ("first_seen_ms", "last_seen_ms", "session", "rhythm", "categories", "products", "stage"):
        assert after[key] == before[key], key
    assert after["counts"] == {"view": 1, "consent": 2}
    assert profile.session.count == 1


def test_consent_creates_a_profile_for_an_unknown_user():
    step = Core(cart_book(), CONFIG).process_event(None, consent("u7", T0_MS, "email", False), population=Population())
    profile = step.state.profile
    assert profile.user_id == "u7"
    assert profile.consent_for("email", default=True) is False
    assert profile.counts == {"consent": 1}
    assert profile.session.count == 0
    assert profile.rhythm.scores == {}
    assert step.schedule == [] and step.outputs == []


def test_consent_of_an_unknown_user_is_stored_by_the_engine():
    engine = PartitionEngine(store={}, book=cart_book())
    assert engine.on_event(consent("u7", T0_MS, ALL_CHANNELS, False)) == []
    assert engine.store["u7"].profile.consent_for("push", default=True) is False
    engine.on_event(view("u7", T0_MS + MINUTE_MS))
    profile = engine.store["u7"].profile
    assert profile.consent_for("push", default=True) is False  # the later view keeps the consent
    assert profile.session.count == 1 and profile.counts == {"consent": 1, "view": 1}


def test_a_consent_alone_puts_nobody_in_a_lifecycle_segment_until_they_do_something():
    engine = PartitionEngine(store={}, book=cart_book())
    engine.on_event(consent("u1", T0_MS, "push", granted=False))
    assert +engine.segments == {}
    engine.on_event(view("u1", T0_MS + MINUTE_MS))
    assert +engine.segments == {"lifecycle:new": 1}
