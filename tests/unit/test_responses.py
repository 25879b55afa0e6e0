"""The simulated senders' answers (streams/responses.py): deterministic, well-formed, in time order,
and as different across personas and channels as the table says."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from schemas.decoding import Rejection, decode_event
from schemas.events import Engagement, EngagementType
from streams.responses import (
    DEFAULT_PERSONA,
    RATES,
    engagement_value,
    has_dead_email,
    persona_of,
    respond,
)
from streams.traffic import Persona, assign_personas

CHANNELS = ("push", "email", "sms")
START_MS = 1_795_600_800_000  # 2026-11-25T10:00:00Z
SAMPLES = 2000  # messages per persona and channel: an open rate's standard error is about 0.011
LIVE_USERS = [f"u{index:04d}" for index in range(200) if not has_dead_email(f"u{index:04d}")]


def _outcomes(persona: Persona, channel: str) -> list[list[EngagementType]]:
    return [
        [kind for kind, _ in respond(f"t{index}", LIVE_USERS[index % len(LIVE_USERS)], channel, START_MS, persona, seed=7)]
        for index in range(SAMPLES)
    ]


@pytest.fixture(scope="module")
def outcomes() -> dict[tuple[Persona, str], list[list[EngagementType]]]:
    return {(persona, channel): _outcomes(persona, channel) for persona in Persona for channel in CHANNELS}


def test_the_same_message_gets_the_same_answer_and_another_seed_another():
    answers = [respond(f"t{index}", "u0001", "push", START_MS, Persona.BROWSER, seed=1) for index in range(50)]
    assert answers == [respond(f"t{index}", "u0001", "push", START_MS, Persona.BROWSER, seed=1) for index in range(50)]
    assert answers != [respond(f"t{index}", "u0001", "push", START_MS, Persona.BROWSER, seed=2) for index in range(50)]


def test_engagements_come_in_time_order_delivered_or_bounced_first_and_nothing_after_a_bounce():
    for index in range(500):
        persona = list(Persona)[index % 4]
        answer = respond(f"t{index}", f"u{index:04d}", CHANNELS[index % 3], START_MS, persona, seed=3)
        kinds, times = [kind for kind, _ in answer], [at_ms for _, at_ms in answer]
        assert kinds[0] in (EngagementType.DELIVERED, EngagementType.BOUNCED)
        assert times == sorted(times) and times[0] > START_MS
        assert times[0] - START_MS <= 30_000  # delivered or bounced within seconds
        assert len(kinds) == len(set(kinds))
        if kinds[0] is EngagementType.BOUNCED:
            assert kinds == [EngagementType.BOUNCED]
        if EngagementType.CLICKED in kinds:
            assert kinds.index(EngagementType.OPENED) < kinds.index(EngagementType.CLICKED)
        assert not {EngagementType.OPENED, EngagementType.DISMISSED} <= set(kinds)


def test_every_engagement_decodes_as_the_worker_reads_it():
    for index in range(300):
        user_id = f"u{index:04d}"
        answer = respond(f"trig-{index}", user_id, CHANNELS[index % 3], START_MS, Persona.LOYAL_BUYER, seed=1)
        for kind, at_ms in answer:
            value = engagement_value(f"trig-{index}", user_id, CHANNELS[index % 3], kind, at_ms, 120)
            event = decode_event("engagements", json.dumps(value).encode(), user_id.encode(), kafka_ts_ms=at_ms)
            assert not isinstance(event, Rejection), (value, event)
            assert isinstance(event, Engagement)
            assert (event.trigger_id, event.type, event.ts_ms, event.utc_offset_min) == (f"trig-{index}", kind, at_ms, 120)


def test_event_ids_are_stable_and_distinct_per_trigger_and_type():
    ids = {engagement_value(f"t{index}", "u1", "sms", kind, START_MS)["event_id"] for index in range(20) for kind in EngagementType}
    assert len(ids) == 20 * len(EngagementType)
    assert engagement_value("t1", "u1", "sms", EngagementType.OPENED, START_MS) == engagement_value("t1", "u1", "sms", EngagementType.OPENED, START_MS)


def test_open_rates_match_the_table_for_every_persona_and_channel(outcomes):
    for (persona, channel), answers in outcomes.items():
        delivered = [kinds for kinds in answers if kinds[0] is EngagementType.DELIVERED]
        open_rate = sum(EngagementType.OPENED in kinds for kinds in delivered) / len(delivered)
        bounce_rate = 1 - len(delivered) / len(answers)
        rates = RATES[(persona, channel)]
        assert abs(open_rate - rates.open) < 0.045, (persona, channel, open_rate)
        assert abs(bounce_rate - rates.bounce) < 0.03, (persona, channel, bounce_rate)


def test_no_single_channel_is_best_for_every_persona(outcomes):
    best = {}
    for persona in Persona:
        clicks = {channel: sum(EngagementType.CLICKED in kinds for kinds in outcomes[(persona, channel)]) for channel in CHANNELS}
        best[persona] = max(clicks, key=clicks.__getitem__)
    assert len(set(best.values())) >= 2, best
    assert best[Persona.BARGAIN_HUNTER] == "email" and best[Persona.BROWSER] == "push" and best[Persona.LOYAL_BUYER] == "sms"


def test_opt_outs_are_rare(outcomes):
    counts = Counter(kind for answers in outcomes.values() for kinds in answers for kind in kinds)
    sent = sum(len(answers) for answers in outcomes.values())
    assert 0.003 < counts[EngagementType.UNSUBSCRIBED] / sent < 0.02
    assert 0.002 < counts[EngagementType.COMPLAINED] / sent < 0.015


def test_a_dead_email_address_always_bounces_on_email_only():
    dead = [f"u{index:04d}" for index in range(2000) if has_dead_email(f"u{index:04d}")]
    assert 0.02 < len(dead) / 2000 < 0.04
    for index, user_id in enumerate(dead):
        assert respond(f"t{index}", user_id, "email", START_MS, Persona.BARGAIN_HUNTER, seed=1)[0][0] is EngagementType.BOUNCED
        assert len(respond(f"t{index}", user_id, "email", START_MS, Persona.LOYAL_BUYER, seed=2)) == 1
    pushes = [respond(f"t{index}", user_id, "push", START_MS, Persona.BROWSER, seed=1)[0][0] for index, user_id in enumerate(dead)]
    assert EngagementType.DELIVERED in pushes


def test_persona_of_reads_the_shop_s_user_ids_and_defaults_otherwise():
    personas = assign_personas(300, seed=5)
    assert [persona_of(f"u{index:04d}", personas) for index in range(300)] == list(personas)
    for odd in ("u0300", "u", "x0001", "", "u00a1", "u-001", "u\u0661"):
        assert persona_of(odd, personas) is DEFAULT_PERSONA


def test_another_channel_gets_modest_default_answers():
    answers = [respond(f"t{index}", "u0001", "whatsapp", START_MS, Persona.BROWSER, seed=1) for index in range(1000)]
    opened = sum(EngagementType.OPENED in [kind for kind, _ in answer] for answer in answers)
    assert 0.08 < opened / 1000 < 0.25
