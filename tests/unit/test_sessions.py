"""Sessions: split by the shop's session id, else by a quiet gap of ``session_gap_ms`` (30 min)."""

from __future__ import annotations

from builders import MINUTE_MS, T0_MS, add, item, profile_of, purchase, search, view
from streams.config import HOUR_MS, ProfileConfig
from streams.sessions import Session, track_session

GAP_MS = ProfileConfig().session_gap_ms


def track(session: Session, ts_ms: int, session_id: str | None = None, *, user_id: str = "u1") -> bool:
    return track_session(session, user_id=user_id, session_id=session_id, ts_ms=ts_ms, gap_ms=GAP_MS)




def test_default_gap_is_thirty_minutes():
    assert GAP_MS == 30 * MINUTE_MS


def test_first_event_starts_a_session_with_a_generated_id():
    session = Session()
    assert track(session, T0_MS) is True
    assert session == Session(count=1, session_id=f"u1@{T0_MS}", start_ms=T0_MS, last_ms=T0_MS, events=1)


# --- the gap --------------------------------------------------------------------------------


def test_a_gap_of_exactly_the_session_gap_starts_a_new_session():
    session = Session()
    track(session, T0_MS)
    assert track(session, T0_MS + GAP_MS) is True
    assert session.count == 2
    assert session.session_id == f"u1@{T0_MS + GAP_MS}"
    assert (session.start_ms, session.last_ms, session.events) == (T0_MS + GAP_MS, T0_MS + GAP_MS, 1)


def test_a_gap_one_ms_short_continues_the_session():
    session = Session()
    track(session, T0_MS)
    assert track(session, T0_MS + GAP_MS - 1) is False
    assert session.count == 1
    assert session.session_id == f"u1@{T0_MS}"
    assert (session.start_ms, session.last_ms, session.events) == (T0_MS, T0_MS + GAP_MS - 1, 2)


def test_the_gap_is_measured_from_the_latest_event_not_the_start():
    session = Session()
    for minute in (0, 20, 40, 60):  # 20-minute steps: one session an hour long
        assert track(session, T0_MS + minute * MINUTE_MS) is (minute == 0)
    assert (session.count, session.events) == (1, 4)
    assert session.last_ms - session.start_ms == HOUR_MS


def test_a_configured_gap_is_honoured():
    session = Session()
    track_session(session, user_id="u1", session_id=None, ts_ms=T0_MS, gap_ms=5 * MINUTE_MS)
    assert track_session(session, user_id="u1", session_id=None, ts_ms=T0_MS + 5 * MINUTE_MS - 1, gap_ms=5 * MINUTE_MS) is False
    assert track_session(session, user_id="u1", session_id=None, ts_ms=T0_MS + 10 * MINUTE_MS - 1, gap_ms=5 * MINUTE_MS) is True


# --- the shop's session id ------------------------------------------------------------------


def test_a_different_shop_session_id_starts_a_new_session_within_the_gap():
    session = Session()
    track(session, T0_MS, "s1")
    assert track(session, T0_MS + MINUTE_MS, "s2") is True
    assert (session.count, session.session_id, session.start_ms, session.events) == (2, "s2", T0_MS + MINUTE_MS, 1)


def test_the_same_shop_session_id_continues_past_the_gap():
    session = Session()
    track(session, T0_MS, "s1")
    assert track(session, T0_MS + 2 * HOUR_MS, "s1") is False
    assert (session.count, session.session_id, session.start_ms, session.last_ms, session.events) == (
        1,
        "s1",
        T0_MS,
        T0_MS + 2 * HOUR_MS,
        2,
    )


def test_the_shop_id_is_kept_instead_of_a_generated_one():
    session = Session()
    track(session, T0_MS, "shop-abc")
    assert session.session_id == "shop-abc"


def test_generated_id_is_user_at_start_ms():
    session = Session()
    track(session, T0_MS, user_id="alice")
    track(session, T0_MS + 5 * MINUTE_MS, user_id="alice")
    track(session, T0_MS + HOUR_MS, user_id="alice")
    assert session.session_id == f"alice@{T0_MS + HOUR_MS}"


def test_an_event_without_id_continues_a_shop_session_within_the_gap():
    session = Session()
    track(session, T0_MS, "s1")
    assert track(session, T0_MS + GAP_MS - 1) is False
    assert session.session_id == "s1"
    assert track(session, T0_MS + 2 * GAP_MS - 1) is True  # a gap since the latest event
    assert session.session_id == f"u1@{T0_MS + 2 * GAP_MS - 1}"


# --- the previous session -------------------------------------------------------------------


def test_the_previous_session_length_and_events_are_kept():
    session = Session()
    track(session, T0_MS)
    track(session, T0_MS + 10 * MINUTE_MS)
    track(session, T0_MS + 25 * MINUTE_MS)
    assert (session.last_length_ms, session.last_events) == (None, None)
    track(session, T0_MS + 25 * MINUTE_MS + GAP_MS)
    assert (session.last_length_ms, session.last_events) == (25 * MINUTE_MS, 3)
    track(session, T0_MS + 25 * MINUTE_MS + 2 * GAP_MS)  # the one-event session just ended
    assert (session.last_length_ms, session.last_events) == (0, 1)
    assert session.count == 3


def test_the_previous_session_is_kept_when_the_shop_id_changes():
    session = Session()
    track(session, T0_MS, "s1")
    track(session, T0_MS + 3 * HOUR_MS, "s1")
    track(session, T0_MS + 3 * HOUR_MS + 1, "s2")
    assert (session.last_length_ms, session.last_events) == (3 * HOUR_MS, 2)


# --- late events ----------------------------------------------------------------------------


def test_a_late_event_joins_the_current_session_without_moving_last_back():
    session = Session()
    track(session, T0_MS)
    track(session, T0_MS + 10 * MINUTE_MS)
    assert track(session, T0_MS + 5 * MINUTE_MS) is False
    assert (session.count, session.start_ms, session.last_ms, session.events) == (1, T0_MS, T0_MS + 10 * MINUTE_MS, 3)
    # The gap still counts from the latest event, not from the late one.
    assert track(session, T0_MS + 10 * MINUTE_MS + GAP_MS - 1) is False


def test_a_late_event_older_than_the_session_start_joins_it_too():
    session = Session()
    track(session, T0_MS + 2 * HOUR_MS)
    assert track(session, T0_MS) is False
    assert (session.count, session.start_ms, session.last_ms, session.events) == (1, T0_MS + 2 * HOUR_MS, T0_MS + 2 * HOUR_MS, 2)


# --- through update_profile -----------------------------------------------------------------


def test_profile_sessions_follow_the_gap():
    profile = profile_of(
        view("u1", T0_MS),
        add("u1", T0_MS + GAP_MS - 1),
        view("u1", T0_MS + 2 * GAP_MS - 1),  # exactly one gap after the add
    )
    session = profile.session
    assert (session.count, session.session_id, session.events) == (2, f"u1@{T0_MS + 2 * GAP_MS - 1}", 1)
    assert (session.last_length_ms, session.last_events) == (GAP_MS - 1, 2)


def test_profile_sessions_follow_the_shop_id():
    profile = profile_of(
        view("u1", T0_MS, session_id="s1"),
        search("u1", T0_MS + MINUTE_MS, session_id="s2"),
        view("u1", T0_MS + 3 * HOUR_MS, session_id="s2"),
    )
    assert (profile.session.count, profile.session.session_id, profile.session.events) == (2, "s2", 2)


def test_a_purchase_carries_no_session_id_so_the_gap_decides():
    within = profile_of(view("u1", T0_MS, session_id="s1"), purchase("u1", T0_MS + GAP_MS - 1, [item("p1", 10.0)]))
    assert (within.session.count, within.session.session_id, within.session.events) == (1, "s1", 2)
    after = profile_of(view("u1", T0_MS, session_id="s1"), purchase("u1", T0_MS + GAP_MS, [item("p1", 10.0)]))
    assert (after.session.count, after.session.session_id, after.session.events) == (2, f"u1@{T0_MS + GAP_MS}", 1)


def test_the_shop_id_after_a_purchase_session_starts_another():
    profile = profile_of(
        view("u1", T0_MS, session_id="s1"),
        purchase("u1", T0_MS + HOUR_MS, [item("p1", 10.0)]),  # a new, generated session
        view("u1", T0_MS + HOUR_MS + MINUTE_MS, session_id="s1"),  # differs from the generated id
    )
    assert (profile.session.count, profile.session.session_id) == (3, "s1")


def test_a_late_profile_event_joins_the_current_session():
    profile = profile_of(view("u1", T0_MS), view("u1", T0_MS + 20 * MINUTE_MS), view("u1", T0_MS + 10 * MINUTE_MS))
    session = profile.session
    assert (session.count, session.last_ms, session.events) == (1, T0_MS + 20 * MINUTE_MS, 3)


def test_session_view():
    profile = profile_of(view("u1", T0_MS), view("u1", T0_MS + 90_000), view("u1", T0_MS + HOUR_MS))
    assert profile.session.view() == {
        "count": 2,
        "current_id": f"u1@{T0_MS + HOUR_MS}",
        "started": "2026-11-25T10:00:00.000Z",
        "events": 1,
        "last_length_s": 90.0,
        "last_events": 2,
    }
    assert Session().view()["started"] is None


def test_a_late_event_of_an_earlier_shop_session_does_not_split_the_current_one():
    session = Session()
    for session_id, ts_ms in [("s1", T0_MS), ("s2", T0_MS + HOUR_MS), ("s1", T0_MS + 5 * MINUTE_MS), ("s2", T0_MS + HOUR_MS + MINUTE_MS)]:
        track_session(session, user_id="u1", session_id=session_id, ts_ms=ts_ms, gap_ms=30 * MINUTE_MS)
    assert (session.count, session.session_id, session.events) == (2, "s2", 3)
    assert session.start_ms == T0_MS + HOUR_MS and session.last_ms == T0_MS + HOUR_MS + MINUTE_MS
