"""What every rule kind is: one class on this small protocol, registered in streams/rules/kinds.py.

A kind reacts to some kinds of event (``reacts_to``), to its own timers and to a user's change
of lifecycle stage, and proposes candidates; the core (streams/process.py) calls it only for
what it reacts to and puts every candidate through the guardrails. It says how long it may wait
after an event (the end-of-input horizon of a replay) and how one of its triggers reads in a
few words. Its params are a frozen dataclass of streams/rules/spec.py. Bytewax's StatefulLogic
and River's estimator base classes were the models: a base class with a default for everything,
so a kind writes only what it does.
"""

from __future__ import annotations

from typing import Any

from schemas.events import Event
from streams.lifecycle import Stage
from streams.rules.base import Candidate, Context, Effects
from streams.rules.spec import RuleKind, RuleSpec
from streams.state import UserState
from streams.timers import Timer


class RuleLogic:
    """The base every kind derives from; each method's default does nothing."""

    def __init__(self, kind: RuleKind, params_type: type, reacts_to: frozenset[str]) -> None:
        self.kind = kind
        self.params_type = params_type  # a spec of this kind always has params of this type
        self.reacts_to = reacts_to  # the event kinds (streams/profile.py EVENT_KINDS) on_event is called for

    def on_event(self, rule: RuleSpec, state: UserState, event: Event, ctx: Context, effects: Effects) -> None:
        """After the profile took an event of a kind in ``reacts_to``: arm or cancel timers, or
        propose candidates in ``effects``."""

    def on_timer(self, rule: RuleSpec, state: UserState, timer: Timer, ctx: Context) -> Candidate | None:
        """One of the rule's timers came due (the core checked it is still the pending one)."""
        return None

    def on_stage_change(self, rule: RuleSpec, state: UserState, before: Stage, ctx: Context) -> Candidate | None:
        """The daily sweep moved the user from ``before`` to their current lifecycle stage."""
        return None

    def delay_ms(self, params: Any) -> int:
        """The longest the rule may wait after an event before it fires (quiet hours aside)."""
        return 0

    def summary(self, payload: dict[str, Any]) -> str:
        """A trigger of this kind in a few words, for the demo's terminal."""
        return ""

    def example(self) -> RuleSpec:
        """A rule of this kind that fires on a few weeks of the synthetic shop: what the conformance
        suite (tests/unit/test_rule_conformance.py) runs every kind with, as River's checks run
        each estimator with its own test parameters."""
        raise NotImplementedError(f"{self.kind.value} gives no example rule")
