"""One partition's event-time engine: its clock, its timers and the users it owns.

A partition's clock is its watermark, the largest event time released so far; an idle live
partition may also be moved on by the caller (see ``advance``). Timers fire when the clock
reaches them, before any event at or after their due time is applied, so a purchase one
millisecond before a deadline cancels it and one at the deadline comes too late.
"""

from __future__ import annotations

from typing import Iterable, MutableMapping

from schemas.events import Event
from schemas.outputs import Trigger
from streams.config import RuleConfig
from streams.process import Step, fire_timer, process_event
from streams.state import UserState
from streams.timers import TimerQueue


class PartitionEngine:
    """Drives ``process_event`` and ``fire_timer`` over a store of user states.

    The store is any mutable mapping (a dict offline, a Faust table view in a worker); every
    state the engine changes is assigned back to it, which is how a caller learns what to save.

    >>> from schemas.events import Click, ClickAction, Purchase
    >>> engine = PartitionEngine(store={}, config=RuleConfig(abandoned_cart_delay_ms=1000))
    >>> engine.on_event(Click("e1", "u1", 0, 0, ClickAction.ADD_TO_CART, "p1", "shoes", 10.0))
    []
    >>> [t.rule for t in engine.advance(999)], [t.ts_ms for t in engine.advance(1000)]
    ([], [1000])
    """

    def __init__(self, *, store: MutableMapping[str, UserState], config: RuleConfig) -> None:
        self.store = store
        self.config = config
        self.clock_ms: int | None = None
        self._timers = TimerQueue()

    def restore(self, states: Iterable[UserState]) -> None:
        """Re-queue the pending timers of restored users; the clock resumes at their latest event."""
        for state in states:
            for timer in state.timers.values():
                self._timers.push(state.user_id, timer)
            last_seen = state.profile.last_seen_ms
            if self.clock_ms is None or last_seen > self.clock_ms:
                self.clock_ms = last_seen

    @property
    def pending_timers(self) -> int:
        """Queue entries, including superseded ones not yet due: an upper bound."""
        return len(self._timers)

    def on_event(self, event: Event) -> list[Trigger]:
        triggers = self.advance(event.ts_ms)
        step = process_event(self.store.get(event.user_id), event, self.config)
        self._keep(event.user_id, step, triggers)
        if step.schedule and self.clock_ms is not None:
            # A late event can arm a timer that is already due.
            triggers.extend(self._fire_due())
        return triggers

    def advance(self, now_ms: int) -> list[Trigger]:
        """Move the clock forward (never back) and fire every timer it passes."""
        if self.clock_ms is None or now_ms > self.clock_ms:
            self.clock_ms = now_ms
        return self._fire_due()

    def _fire_due(self) -> list[Trigger]:
        triggers: list[Trigger] = []
        assert self.clock_ms is not None
        while True:
            due = self._timers.pop_due(self.clock_ms)
            if not due:
                return triggers
            for user_id, timer in due:
                state = self.store.get(user_id)
                if state is None or state.timers.get(timer.key) != timer:
                    continue  # cancelled or re-armed since it was queued
                self._keep(user_id, fire_timer(state, timer, self.config), triggers)

    def _keep(self, user_id: str, step: Step, triggers: list[Trigger]) -> None:
        self.store[user_id] = step.state
        triggers.extend(step.triggers)
        for timer in step.schedule:
            self._timers.push(user_id, timer)
