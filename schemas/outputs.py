"""Output records: triggers for marketing systems, the suppressions and conversions that
measure them, and dead letters for rejected input."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from schemas.limits import DEAD_LETTER_PREFIX_BYTES, MAX_KEY_BYTES, MAX_MESSAGE_BYTES
from schemas.timestamps import format_rfc3339

# The output topics, by their logical names (a deployment may prefix them).
TRIGGERS = "triggers"
SUPPRESSIONS = "suppressions"
CONVERSIONS = "conversions"
DEAD_LETTERS = "dead-letters"
ERASURES_DONE = "erasures-done"

# Fixed forever: changing it would change every trigger id and break consumers' de-duplication.
_TRIGGER_NAMESPACE = uuid.UUID("5f1d7a52-9c1e-4c0e-8a53-6e7564676501")
_NAMESPACE_BYTES = _TRIGGER_NAMESPACE.bytes


def trigger_id_for(user_id: str, rule: str, cause: str) -> str:
    """Derive a trigger id from what caused it, so a redelivered trigger keeps its id.

    >>> trigger_id_for("u1", "abandoned_cart", "e42") == trigger_id_for("u1", "abandoned_cart", "e42")
    True
    >>> trigger_id_for("u1", "abandoned_cart", "e42") == trigger_id_for("u1", "abandoned_cart", "e43")
    False
    """
    # uuid.uuid5 spelled out: the same bytes at a third of the cost, without building a UUID.
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{user_id}\x1f{rule}\x1f{cause}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(slots=True)
class Trigger:
    """A decision to contact a user. ``ts_ms`` is the event time the rule fired at."""

    trigger_id: str
    user_id: str
    rule: str
    ts_ms: int
    channel: str
    payload: dict[str, Any]
    reason: str
    propensity: float | None  # learned P(purchase within the horizon) at ts; None while the model is cold or off
    uplift: float | None  # learned P(purchase | sent) - P(purchase | held out) for this user at ts; None likewise
    variant: str | None  # the rule's A/B variant the user is in; None for a rule without variants

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(
        self,
        trigger_id: str,
        user_id: str,
        rule: str,
        ts_ms: int,
        channel: str,
        payload: dict[str, Any],
        reason: str,
        propensity: float | None = None,
        uplift: float | None = None,
        variant: str | None = None,
    ) -> None:
        self.trigger_id = trigger_id
        self.user_id = user_id
        self.rule = rule
        self.ts_ms = ts_ms
        self.channel = channel
        self.payload = payload
        self.reason = reason
        self.propensity = propensity
        self.uplift = uplift
        self.variant = variant

    def to_wire(self, *, emitted_at_ms: int) -> dict[str, Any]:
        ts = format_rfc3339(self.ts_ms)
        return {
            "trigger_id": self.trigger_id,
            "user_id": self.user_id,
            "rule": self.rule,
            "ts": ts,
            "emitted_at": ts if emitted_at_ms == self.ts_ms else format_rfc3339(emitted_at_ms),  # a replay emits at event time
            "channel": self.channel,
            "payload": self.payload,
            "reason": self.reason,
            "propensity": self.propensity,
            "uplift": self.uplift,
            "variant": self.variant,
        }


class SuppressionReason(StrEnum):
    """Why a rule's trigger was not sent; the guardrails run in this order."""

    EXPIRED = "expired"  # held through quiet hours past the point where the rule still makes sense
    NO_CONSENT = "no_consent"  # the user has not consented to the rule's channel (to any of them, for a list)
    BOUNCED = "bounced"  # the rule's channel (every one listed) bounced for the user, and nothing since shows it works
    UNSUBSCRIBED = "unsubscribed"  # the user unsubscribed from the channel (or complained) from one of its messages
    PROPENSITY = "propensity"  # the user's learned purchase propensity is outside the rule's range
    LOW_UPLIFT = "low_uplift"  # the rule's learned uplift for the user is below its min_uplift
    FREQUENCY_CAP = "frequency_cap"  # the user already got the most triggers allowed in the window
    HOLDOUT = "holdout"  # last: the user is in the rule's holdout group, kept unmessaged to measure uplift


@dataclass(slots=True)
class Suppression:
    """A trigger a guardrail stopped, kept so marketers can see what was not sent and why."""

    trigger: Trigger  # the trigger that would have been sent, with the id it would have had
    reason: SuppressionReason

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(self, trigger: Trigger, reason: SuppressionReason) -> None:
        self.trigger = trigger
        self.reason = reason

    def to_wire(self, *, emitted_at_ms: int) -> dict[str, Any]:
        trigger = self.trigger.to_wire(emitted_at_ms=emitted_at_ms)
        return {
            "trigger_id": trigger["trigger_id"],
            "user_id": trigger["user_id"],
            "rule": trigger["rule"],
            "reason": self.reason.value,
            "ts": trigger["ts"],
            "emitted_at": trigger["emitted_at"],
            "trigger": trigger,
        }


class ConversionGroup(StrEnum):
    TREATED = "treated"  # the user got the trigger
    HOLDOUT = "holdout"  # the user was held out of the rule: the baseline to measure uplift against


@dataclass(slots=True)
class Conversion:
    """A purchase attributed to the last trigger (or holdout record) before it."""

    conversion_id: str  # derived from the trigger and the order, so a replay names it the same
    user_id: str
    rule: str
    trigger_id: str
    group: ConversionGroup
    order_id: str
    value: float  # the order's total
    ts_ms: int  # the purchase's event time
    trigger_ts_ms: int
    variant: str | None  # the trigger's variant
    clicked: bool  # whether the user clicked the trigger's message before buying

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(
        self,
        conversion_id: str,
        user_id: str,
        rule: str,
        trigger_id: str,
        group: ConversionGroup,
        order_id: str,
        value: float,
        ts_ms: int,
        trigger_ts_ms: int,
        variant: str | None = None,
        clicked: bool = False,
    ) -> None:
        self.conversion_id = conversion_id
        self.user_id = user_id
        self.rule = rule
        self.trigger_id = trigger_id
        self.group = group
        self.order_id = order_id
        self.value = value
        self.ts_ms = ts_ms
        self.trigger_ts_ms = trigger_ts_ms
        self.variant = variant
        self.clicked = clicked

    def to_wire(self, *, emitted_at_ms: int) -> dict[str, Any]:
        return {
            "conversion_id": self.conversion_id,
            "user_id": self.user_id,
            "rule": self.rule,
            "trigger_id": self.trigger_id,
            "group": self.group.value,
            "order_id": self.order_id,
            "value": self.value,
            "ts": format_rfc3339(self.ts_ms),
            "trigger_ts": format_rfc3339(self.trigger_ts_ms),
            "emitted_at": format_rfc3339(emitted_at_ms),
            "variant": self.variant,
            "clicked": self.clicked,
        }


@dataclass(slots=True)
class Response:
    """An engagement matched to the trigger it is about: what the worker counts per rule, channel
    and variant. Kept inside Nudge, never published: the senders wrote the engagement itself."""

    trigger_id: str
    user_id: str
    rule: str
    variant: str | None
    channel: str
    type: str  # an EngagementType's value
    ts_ms: int  # the engagement's event time
    trigger_ts_ms: int

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(
        self, trigger_id: str, user_id: str, rule: str, variant: str | None, channel: str, type: str, ts_ms: int, trigger_ts_ms: int
    ) -> None:
        self.trigger_id = trigger_id
        self.user_id = user_id
        self.rule = rule
        self.variant = variant
        self.channel = channel
        self.type = type
        self.ts_ms = ts_ms
        self.trigger_ts_ms = trigger_ts_ms


@dataclass(slots=True)
class ErasureDone:
    """A user erased: the confirmation ``nudge forget --wait`` waits for, and the notice the
    systems downstream of Nudge (senders, warehouses) delete on, as Nudge has."""

    event_id: str  # the erasure request's own id, so the one who asked can match the answer
    user_id: str
    found: bool  # whether Nudge held anything about the user
    requested_ms: int  # the request's ts
    erased_ms: int  # the partition's event-time clock when it was applied (the request's ts on a fresh partition)

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(self, event_id: str, user_id: str, found: bool, requested_ms: int, erased_ms: int) -> None:
        self.event_id = event_id
        self.user_id = user_id
        self.found = found
        self.requested_ms = requested_ms
        self.erased_ms = erased_ms

    def to_wire(self, *, emitted_at_ms: int) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "user_id": self.user_id,
            "found": self.found,
            "requested_at": format_rfc3339(self.requested_ms),
            "erased_at": format_rfc3339(self.erased_ms),
            "emitted_at": format_rfc3339(emitted_at_ms),
        }


Output = Trigger | Suppression | Conversion | ErasureDone | Response
"""What the core emits, in the order it decided it. Everything but a ``Response`` is published."""


@dataclass(slots=True)
class DeadLetter:
    """A rejected input message, kept byte for byte so it can be fixed and re-sent.

    Byte for byte up to a bound: a too_large message keeps only its first bytes (and its length
    and SHA-256, to tell which it was), so a dead letter always fits in one Kafka message, whatever
    came in.
    """

    source_topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str
    detail: str

    @property
    def kept_key(self) -> bytes | None:
        """The key the dead letter is keyed by and carries: the original, or its first bytes."""
        key = self.key
        return key if key is None or len(key) <= MAX_KEY_BYTES else key[:MAX_KEY_BYTES]

    @property
    def key_text(self) -> str | None:
        """The key as text, when UTF-8 text can carry it exactly (not cut, valid UTF-8)."""
        key = self.key
        if key is None or len(key) > MAX_KEY_BYTES:
            return None
        try:
            return key.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def to_wire(self, *, rejected_at_ms: int) -> dict[str, Any]:
        """
        >>> letter = DeadLetter("clicks", 0, 7, b"\\xff", b"x" * 600_000, "too_large", "too big")
        >>> wire = letter.to_wire(rejected_at_ms=0)
        >>> wire["key"], wire["key_base64"], wire["value_length"], wire["truncated"], len(base64.b64decode(wire["value_base64"]))
        (None, '/w==', 600000, True, 4096)
        """
        key, value = self.kept_key, self.value
        key_cut = self.key is not None and len(self.key) > MAX_KEY_BYTES
        value_cut = value is not None and len(value) > MAX_MESSAGE_BYTES
        if value is not None and value_cut:
            value = value[:DEAD_LETTER_PREFIX_BYTES]
        text_key = self.key_text  # None for a key that is not UTF-8 or was cut: key_base64 keeps it
        original = self.value
        return {
            "source_topic": self.source_topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": text_key,
            "key_base64": None if key is None or text_key is not None else base64.b64encode(key).decode("ascii"),
            "value_base64": None if value is None else base64.b64encode(value).decode("ascii"),
            "value_length": None if original is None else len(original),
            "value_sha256": None if original is None else hashlib.sha256(original).hexdigest(),
            "truncated": key_cut or value_cut,
            "reason": self.reason,
            "detail": self.detail,
            "rejected_at": format_rfc3339(rejected_at_ms),
        }


def encode_output(output: Output | DeadLetter, *, emitted_at_ms: int) -> tuple[str, bytes | None, bytes]:
    """The logical topic, the key and the value of the message an output is sent as: the one
    encoding the worker and the offline replay share, so they write the same bytes (but for
    ``emitted_at``, or a dead letter's ``rejected_at``, which is ``emitted_at_ms``)."""
    if isinstance(output, Trigger):
        return TRIGGERS, output.user_id.encode(), orjson.dumps(output.to_wire(emitted_at_ms=emitted_at_ms))
    if isinstance(output, Suppression):
        return SUPPRESSIONS, output.trigger.user_id.encode(), orjson.dumps(output.to_wire(emitted_at_ms=emitted_at_ms))
    if isinstance(output, Conversion):
        return CONVERSIONS, output.user_id.encode(), orjson.dumps(output.to_wire(emitted_at_ms=emitted_at_ms))
    if isinstance(output, ErasureDone):
        return ERASURES_DONE, output.user_id.encode(), orjson.dumps(output.to_wire(emitted_at_ms=emitted_at_ms))
    if isinstance(output, Response):
        raise ValueError("a response is counted, never published")
    return DEAD_LETTERS, output.kept_key, orjson.dumps(output.to_wire(rejected_at_ms=emitted_at_ms))


def decided_at_ms(output: Output | DeadLetter, *, otherwise_ms: int) -> int:
    """The event time an output was decided at; a dead letter has none of its own."""
    if isinstance(output, Trigger) or isinstance(output, Conversion) or isinstance(output, Response):
        return output.ts_ms
    if isinstance(output, Suppression):
        return output.trigger.ts_ms
    if isinstance(output, ErasureDone):
        return output.erased_ms
    return otherwise_ms
