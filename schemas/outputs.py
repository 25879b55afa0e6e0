"""Output records: triggers for marketing systems and dead letters for rejected input."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

from schemas.timestamps import format_rfc3339

# Fixed forever: changing it would change every trigger id and break consumers' de-duplication.
_TRIGGER_NAMESPACE = uuid.UUID("5f1d7a52-9c1e-4c0e-8a53-6e7564676501")


def trigger_id_for(user_id: str, rule: str, cause: str) -> str:
    """Derive a trigger id from what caused it, so a redelivered trigger keeps its id.

    >>> trigger_id_for("u1", "abandoned_cart", "e42") == trigger_id_for("u1", "abandoned_cart", "e42")
    True
    >>> trigger_id_for("u1", "abandoned_cart", "e42") == trigger_id_for("u1", "abandoned_cart", "e43")
    False
    """
    return str(uuid.uuid5(_TRIGGER_NAMESPACE, f"{user_id}\x1f{rule}\x1f{cause}"))


@dataclass(frozen=True, slots=True)
class Trigger:
    """A decision to contact a user. ``ts_ms`` is the event time the rule fired at."""

    trigger_id: str
    user_id: str
    rule: str
    ts_ms: int
    channel: str
    payload: dict[str, Any] = field(hash=False)
    reason: str

    def to_wire(self, *, emitted_at_ms: int) -> dict[str, Any]:
        return {
            "trigger_id": self.trigger_id,
            "user_id": self.user_id,
            "rule": self.rule,
            "ts": format_rfc3339(self.ts_ms),
            "emitted_at": format_rfc3339(emitted_at_ms),
            "channel": self.channel,
            "payload": self.payload,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected input message, kept byte for byte so it can be fixed and re-sent."""

    source_topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str
    detail: str

    def to_wire(self, *, rejected_at_ms: int) -> dict[str, Any]:
        return {
            "source_topic": self.source_topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": None if self.key is None else self.key.decode("utf-8", "replace"),
            "value_base64": None if self.value is None else base64.b64encode(self.value).decode("ascii"),
            "reason": self.reason,
            "detail": self.detail,
            "rejected_at": format_rfc3339(rejected_at_ms),
        }
