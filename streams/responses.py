"""How shoppers answer a trigger's message: the engagements a sender would report back.

The stand-in for real push, email and SMS senders (``nudge senders``) needs to know what became
of each message: delivered or bounced, opened or dismissed, clicked, and now and then an
unsubscribe or a spam complaint. The answer depends on who the shopper is (their ``Persona`` in
the synthetic shop, ``streams/traffic.py``) and on the channel, and it depends on them strongly:
no single channel is best for everyone, so a channel-choosing policy has something to learn.

It is pure and deterministic, like the shop itself: the randomness of one message is a
``random.Random`` seeded from a blake2b hash of the seed and the trigger id (never Python's
``hash``, which changes per process), so a redelivered trigger gets the same engagements and a
rerun of the same traffic the same answers. No clock: times are the trigger's event time plus
simulated delays, and the caller decides when to send them.

>>> from streams.traffic import Persona
>>> [(kind.value, at_ms // 1000) for kind, at_ms in respond("t2", "u0001", "email", 0, Persona.BARGAIN_HUNTER, seed=3)]
[('delivered', 27), ('opened', 21627), ('clicked', 21632)]
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

from schemas.events import EngagementType
from schemas.timestamps import format_rfc3339
from streams.traffic import Persona

# An id that is not a shop's ``u<index>`` (or is past its last shopper) is treated as someone
# the shop knows nothing about yet.
DEFAULT_PERSONA = Persona.NEW_VISITOR
# Users whose email address is dead: every email to them bounces, so a policy that keeps emailing
# a user after a bounce is visibly wasteful. Chosen by a hash of the user id alone, so the same
# users have dead addresses whatever the seed.
DEAD_EMAIL_SHARE = 0.03

_SECOND_MS = 1000
_MINUTE_MS = 60 * _SECOND_MS
_HOUR_MS = 60 * _MINUTE_MS


@dataclass(frozen=True, slots=True)
class ResponseRates:
    """What happens to one message of a channel sent to one kind of shopper, as probabilities."""

    bounce: float  # share of these shoppers the channel cannot reach at all (no app, a dead number): every message bounces
    open: float  # opened, once delivered
    click: float  # its link followed, once opened
    dismiss: float  # swiped away or deleted unread, once delivered and not opened
    unsubscribe: float  # the shopper opts out of the channel from it, once delivered
    complain: float  # the shopper marks it as spam, once delivered


@dataclass(frozen=True, slots=True)
class ChannelTiming:
    """How long things take on a channel, in event time."""

    deliver_ms: tuple[int, int]  # delivery (or bounce) after the trigger, uniform in this range
    open_median_ms: int  # median wait from delivery to opening (lognormal), or to a dismissal
    open_sigma: float  # the lognormal's spread: a few open at once, some hours later


# Bargain hunters live in their inbox (coupons come by email), browsers have the app and answer
# its pushes, loyal buyers answer texts, and new visitors mostly have no app yet (push bounces)
# and open the welcome-style emails. So the best channel differs by persona.
RATES: dict[tuple[Persona, str], ResponseRates] = {
    (Persona.BARGAIN_HUNTER, "push"): ResponseRates(bounce=0.05, open=0.10, click=0.25, dismiss=0.60, unsubscribe=0.010, complain=0.005),
    (Persona.BARGAIN_HUNTER, "email"): ResponseRates(bounce=0.02, open=0.45, click=0.40, dismiss=0.10, unsubscribe=0.008, complain=0.005),
    (Persona.BARGAIN_HUNTER, "sms"): ResponseRates(bounce=0.03, open=0.15, click=0.20, dismiss=0.30, unsubscribe=0.020, complain=0.010),
    (Persona.LOYAL_BUYER, "push"): ResponseRates(bounce=0.04, open=0.25, click=0.30, dismiss=0.50, unsubscribe=0.005, complain=0.005),
    (Persona.LOYAL_BUYER, "email"): ResponseRates(bounce=0.02, open=0.20, click=0.25, dismiss=0.10, unsubscribe=0.010, complain=0.005),
    (Persona.LOYAL_BUYER, "sms"): ResponseRates(bounce=0.02, open=0.55, click=0.35, dismiss=0.20, unsubscribe=0.005, complain=0.005),
    (Persona.BROWSER, "push"): ResponseRates(bounce=0.06, open=0.40, click=0.20, dismiss=0.40, unsubscribe=0.008, complain=0.005),
    (Persona.BROWSER, "email"): ResponseRates(bounce=0.03, open=0.12, click=0.15, dismiss=0.10, unsubscribe=0.015, complain=0.008),
    (Persona.BROWSER, "sms"): ResponseRates(bounce=0.03, open=0.08, click=0.10, dismiss=0.30, unsubscribe=0.020, complain=0.015),
    (Persona.NEW_VISITOR, "push"): ResponseRates(bounce=0.25, open=0.15, click=0.15, dismiss=0.60, unsubscribe=0.015, complain=0.005),
    (Persona.NEW_VISITOR, "email"): ResponseRates(bounce=0.05, open=0.30, click=0.20, dismiss=0.10, unsubscribe=0.010, complain=0.005),
    (Persona.NEW_VISITOR, "sms"): ResponseRates(bounce=0.05, open=0.10, click=0.10, dismiss=0.30, unsubscribe=0.020, complain=0.015),
}  # fmt: skip
# A channel no table row names (a rule on a new channel): modest, persona-blind answers.
DEFAULT_RATES = ResponseRates(bounce=0.05, open=0.15, click=0.15, dismiss=0.30, unsubscribe=0.010, complain=0.005)

TIMINGS: dict[str, ChannelTiming] = {
    "push": ChannelTiming(deliver_ms=(200, 3 * _SECOND_MS), open_median_ms=5 * _MINUTE_MS, open_sigma=1.2),
    "email": ChannelTiming(deliver_ms=(2 * _SECOND_MS, 30 * _SECOND_MS), open_median_ms=40 * _MINUTE_MS, open_sigma=1.0),
    "sms": ChannelTiming(deliver_ms=(1 * _SECOND_MS, 10 * _SECOND_MS), open_median_ms=3 * _MINUTE_MS, open_sigma=1.2),
}
DEFAULT_TIMING = ChannelTiming(deliver_ms=(1 * _SECOND_MS, 10 * _SECOND_MS), open_median_ms=20 * _MINUTE_MS, open_sigma=1.0)
# An open comes no sooner than this after delivery and no later than this: "a few hours".
OPEN_DELAY_BOUNDS_MS = (5 * _SECOND_MS, 6 * _HOUR_MS)
# A click follows its open within seconds to a couple of minutes (lognormal, median 20 s).
CLICK_MEDIAN_MS = 20 * _SECOND_MS
CLICK_DELAY_BOUNDS_MS = (1 * _SECOND_MS, 5 * _MINUTE_MS)
# An unsubscribe or complaint is the last thing done with a message, shortly after the last.
OPT_OUT_DELAY_MS = (5 * _SECOND_MS, 2 * _MINUTE_MS)


def persona_of(user_id: str, personas: tuple[Persona, ...]) -> Persona:
    """The persona of a synthetic shop's user id (``u`` and the shopper's index, as
    ``ShopSimulator`` names them), from ``assign_personas``' answer; ``DEFAULT_PERSONA`` for an
    id that is not one.

    >>> from streams.traffic import assign_personas
    >>> personas = assign_personas(100, seed=1)
    >>> persona_of("u0042", personas) == personas[42] and persona_of("u42", personas) == personas[42]
    True
    >>> persona_of("u0100", personas).value, persona_of("alice", personas).value, persona_of("u-1", personas).value
    ('new_visitor', 'new_visitor', 'new_visitor')
    """
    digits = user_id[1:]
    if not user_id.startswith("u") or not digits or not digits.isascii() or not digits.isdigit():
        return DEFAULT_PERSONA
    index = int(digits)
    return personas[index] if index < len(personas) else DEFAULT_PERSONA


def rates_for(persona: Persona, channel: str) -> ResponseRates:
    """The table's rates of a persona on a channel, ``DEFAULT_RATES`` on any other channel."""
    return RATES.get((persona, channel), DEFAULT_RATES)


def has_dead_email(user_id: str) -> bool:
    """Whether every email to this user bounces (about ``DEAD_EMAIL_SHARE`` of users).

    >>> sum(has_dead_email(f"u{index:04d}") for index in range(10_000))
    289
    """
    return _unit(b"dead-email\x00" + user_id.encode()) < DEAD_EMAIL_SHARE


def unreachable(user_id: str, channel: str, rates: ResponseRates) -> bool:
    """Whether the channel cannot reach this shopper at all. Bounces are hard, as real ones mostly
    are: the same shopper's messages on the channel all bounce (a share ``rates.bounce`` of the
    persona's shoppers, by a hash of the user and the channel), so a sender that keeps using a
    channel after a bounce wastes every message, and one that stops loses nothing."""
    if channel == "email" and has_dead_email(user_id):
        return True
    return _unit(b"unreachable\x00" + channel.encode() + b"\x00" + user_id.encode()) < rates.bounce


def respond(trigger_id: str, user_id: str, channel: str, ts_ms: int, persona: Persona, *, seed: int) -> list[tuple[EngagementType, int]]:
    """The engagements one message causes, each with its event time (ms), in time order.

    The first is ``delivered`` or ``bounced`` (always, for a shopper the channel cannot reach),
    within seconds of ``ts_ms`` (the trigger's event time); a bounced message has nothing after
    it. A delivered one may be opened (minutes to a few hours later) and then clicked (seconds
    later), or dismissed unread; and it may end in an unsubscribe or a spam complaint. The same arguments give the same answer.

    >>> respond("t7", "u0003", "push", 1_000_000, Persona.BROWSER, seed=1)
    [(<EngagementType.DELIVERED: 'delivered'>, 1002460), (<EngagementType.OPENED: 'opened'>, 1801192), (<EngagementType.CLICKED: 'clicked'>, 1839435)]
    """
    rates = rates_for(persona, channel)
    timing = TIMINGS.get(channel, DEFAULT_TIMING)
    rng = random.Random(_seed_of(seed, trigger_id))
    at_ms = ts_ms + rng.randint(timing.deliver_ms[0], timing.deliver_ms[1])
    if unreachable(user_id, channel, rates):
        return [(EngagementType.BOUNCED, at_ms)]
    engagements = [(EngagementType.DELIVERED, at_ms)]
    read_ms = at_ms + _lognormal_ms(rng, timing.open_median_ms, timing.open_sigma, OPEN_DELAY_BOUNDS_MS)
    if rng.random() < rates.open:
        engagements.append((EngagementType.OPENED, read_ms))
        at_ms = read_ms
        if rng.random() < rates.click:
            at_ms += _lognormal_ms(rng, CLICK_MEDIAN_MS, 1.0, CLICK_DELAY_BOUNDS_MS)
            engagements.append((EngagementType.CLICKED, at_ms))
    elif rng.random() < rates.dismiss:
        engagements.append((EngagementType.DISMISSED, read_ms))
        at_ms = read_ms
    else:
        at_ms = read_ms  # seen in passing, or never: an opt-out still needs a moment to happen
    opt_out = rng.random()
    if opt_out < rates.unsubscribe + rates.complain:
        kind = EngagementType.UNSUBSCRIBED if opt_out < rates.unsubscribe else EngagementType.COMPLAINED
        engagements.append((kind, at_ms + rng.randint(OPT_OUT_DELAY_MS[0], OPT_OUT_DELAY_MS[1])))
    return engagements


def engagement_value(trigger_id: str, user_id: str, channel: str, type: EngagementType, ts_ms: int, utc_offset_min: int = 0) -> dict[str, Any]:
    """The engagement as a sender writes it on ``engagements`` (keyed by ``user_id``). Its
    ``event_id`` comes from the trigger and the type, so a redelivered trigger's engagements
    keep their ids and the worker drops the copies.

    >>> engagement_value("t1", "u0001", "push", EngagementType.OPENED, 1_795_600_800_000, 60)["ts"]
    '2026-11-25T11:00:00.000+01:00'
    """
    digest = blake2b(f"{trigger_id}\x00{type.value}".encode(), digest_size=16).hexdigest()
    return {
        "event_id": f"{type.value}-{digest}",
        "user_id": user_id,
        "ts": format_rfc3339(ts_ms, utc_offset_min),
        "trigger_id": trigger_id,
        "channel": channel,
        "type": type.value,
    }


def _seed_of(seed: int, trigger_id: str) -> int:
    return int.from_bytes(blake2b(f"{seed}\x00{trigger_id}".encode(), digest_size=8).digest(), "big")


def _unit(data: bytes) -> float:
    """A stable number in [0, 1) from bytes."""
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big") / 2.0**64


def _lognormal_ms(rng: random.Random, median_ms: int, sigma: float, bounds_ms: tuple[int, int]) -> int:
    delay_ms = int(rng.lognormvariate(math.log(median_ms), sigma))
    return min(max(delay_ms, bounds_ms[0]), bounds_ms[1])
