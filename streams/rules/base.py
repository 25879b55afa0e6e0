"""What every rule speaks: the context it decides in, and the candidate trigger it proposes.

A rule never sends anything. It arms timers and proposes candidates; the guardrails
(streams/rules/guardrails.py) then decide whether a candidate is sent, suppressed or held.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.outputs import Trigger, trigger_id_for
from streams.config import ProfileConfig
from streams.population import Population
from streams.rules.spec import RuleBook, RuleSpec
from streams.timers import Timer


@dataclass(slots=True)
class Context:
    """What a rule may read besides the user's state; ``now_ms`` is the moment it decides at.

    Not frozen: the core keeps one and moves it along, since building one per event shows in
    the profile of the hot path."""

    book: RuleBook
    profile_config: ProfileConfig
    population: Population
    now_ms: int


@dataclass(slots=True)
class Candidate:
    """A trigger a rule wants sent. ``key`` and ``cause`` are its timer's: a candidate held for
    quiet hours re-arms that timer, and the trigger id derives from the cause, so the trigger
    sent in the morning has the id it would have had at night."""

    rule: RuleSpec
    key: str
    cause: str
    ts_ms: int
    payload: dict[str, Any]
    reason: str
    once_key: str  # recorded in the user's ``fired`` once the candidate is sent or suppressed
    deadline_ms: int | None = None  # past this it is stale and must not be sent
    categories: tuple[str, ...] = ()  # what a purchase must match to convert; empty: any purchase
    products: tuple[str, ...] = ()
    avoid_channel: str = ""  # a channel not to send it on (a follow-up's ignored first channel)
    offer: dict[str, Any] | None = None  # in the payload instead of the rule's offer (win_back's churned_offer)

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(
        self,
        rule: RuleSpec,
        key: str,
        cause: str,
        ts_ms: int,
        payload: dict[str, Any],
        reason: str,
        once_key: str,
        deadline_ms: int | None = None,
        categories: tuple[str, ...] = (),
        products: tuple[str, ...] = (),
        avoid_channel: str = "",
        offer: dict[str, Any] | None = None,
    ) -> None:
        self.rule = rule
        self.key = key
        self.cause = cause
        self.ts_ms = ts_ms
        self.payload = payload
        self.reason = reason
        self.once_key = once_key
        self.deadline_ms = deadline_ms
        self.categories = categories
        self.products = products
        self.avoid_channel = avoid_channel
        self.offer = offer

    def trigger(self, user_id: str) -> Trigger:
        """The trigger it would be, on the rule's first channel: the core picks the channel."""
        offer = self.rule.offer if self.offer is None else self.offer
        return Trigger(
            trigger_id=trigger_id_for(user_id, self.rule.name, self.cause),
            user_id=user_id,
            rule=self.rule.name,
            ts_ms=self.ts_ms,
            channel=self.rule.channel,
            payload=self.payload if offer is None else {**self.payload, "offer": offer},
            reason=self.reason,
            variant=self.rule.variant,
        )


class Effects:
    """What rules asked for during one step, in the order they asked (built once per event)."""

    __slots__ = ("schedule", "candidates")

    def __init__(self, schedule: list[Timer] | None = None) -> None:
        self.schedule: list[Timer] = [] if schedule is None else schedule
        self.candidates: list[Candidate] = []
