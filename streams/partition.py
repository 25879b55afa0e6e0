"""One partition's event-time engine: its clock, its timers, its population and the users it owns.

A partition's clock is its watermark, the largest event time released so far; an idle live
partition may also be moved on by the caller (see ``advance``). Timers fire when the clock
reaches them, before any event at or after their due time is applied, so a purchase one
millisecond before a deadline cancels it and one at the deadline comes too late.

At each midnight (UTC) the clock passes, the daily sweep re-stages every user: silence alone
moves people to at_risk and churned, RFM quintiles are rebuilt from the actual customers, and
search keywords left from sessions that ended without a view are forgotten.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, MutableMapping

from schemas.events import Erasure, Event
from schemas.outputs import Trigger
from streams.config import DAY_MS, ProfileConfig, RuleConfig
from streams.population import Population
from streams.process import Step, fire_timer, process_event
from streams.profile import drop_stale_keywords, restage
from streams.rfm import RfmQuantiles
from streams.segments import segments_of
from streams.state import UserState
from streams.timers import TimerQueue


class PartitionEngine:
    """Drives ``process_event`` and ``fire_timer`` over a store of user states.

    The store is any mutable mapping (a dict offline, a Faust table view in a worker); every
    state the engine changes is assigned back to it, and an erased user is deleted from it,
    which is how a caller learns what to save.

    >>> from schemas.events import Click, ClickAction, Purchase
    >>> engine = PartitionEngine(store={}, config=RuleConfig(abandoned_cart_delay_ms=1000))
    >>> engine.on_event(Click("e1", "u1", 0, 0, ClickAction.ADD_TO_CART, "p1", "shoes", 10.0))
    []
    >>> [t.rule for t in engine.advance(999)], [t.ts_ms for t in engine.advance(1000)]
    ([], [1000])
    >>> engine.segments["lifecycle:new"]
    1
    """

    def __init__(
        self,
        *,
        store: MutableMapping[str, UserState],
        config: RuleConfig,
        profile_config: ProfileConfig | None = None,
        population: Population | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.profile_config = profile_config or ProfileConfig()
        self.population = population or Population()
        self.clock_ms: int | None = None
        self.segments: Counter[str] = Counter()  # users per lifecycle stage and RFM segment
        self._timers = TimerQueue()

    def restore(self, states: Iterable[UserState]) -> None:
        """Re-queue the pending timers of restored users; the clock resumes at their latest event."""
        for state in states:
            for timer in state.timers.values():
                self._timers.push(state.user_id, timer)
            last_seen = state.profile.last_seen_ms
            if self.clock_ms is None or last_seen > self.clock_ms:
                self.clock_ms = last_seen
            self.segments.update(segments_of(state.profile))

    @property
    def pending_timers(self) -> int:
        """Queue entries, including superseded ones not yet due: an upper bound."""
        return len(self._timers)

    def on_event(self, event: Event) -> list[Trigger]:
        triggers = self.advance(event.ts_ms)
        user_id = event.user_id
        state = self.store.get(user_id)
        if isinstance(event, Erasure):
            if state is not None:
                self.segments.subtract(segments_of(state.profile))
                del self.store[user_id]
            return triggers
        before = () if state is None else segments_of(state.profile)
        step = process_event(
            state, event, self.config, profile_config=self.profile_config, population=self.population, now_ms=self.clock_ms
        )
        self._count(before, segments_of(step.state.profile))
        self._keep(user_id, step, triggers)
        if step.schedule and self.clock_ms is not None:
            # A late event can arm a timer that is already due.
            triggers.extend(self._fire_due(self.clock_ms))
        return triggers

    def advance(self, now_ms: int) -> list[Trigger]:
        """Move the clock forward (never back); fire every timer and run every sweep it passes."""
        previous = self.clock_ms
        if previous is None or now_ms > previous:
            self.clock_ms = now_ms
        if previous is None and self.population.last_sweep_ms is None:
            self.population.last_sweep_ms = now_ms - now_ms % DAY_MS  # nothing to sweep before the first event
        triggers: list[Trigger] = []
        midnight = self.clock_ms - self.clock_ms % DAY_MS  # type: ignore[operator]
        last_sweep = self.population.last_sweep_ms
        if last_sweep is not None and midnight > last_sweep:
            # After a long gap, only the latest midnight is swept: the state at the others is gone anyway.
            triggers.extend(self._fire_due(midnight - 1))
            self._sweep(midnight)
        triggers.extend(self._fire_due(self.clock_ms))  # type: ignore[arg-type]
        return triggers

    def _fire_due(self, limit_ms: int) -> list[Trigger]:
        triggers: list[Trigger] = []
        while True:
            due = self._timers.pop_due(limit_ms)
            if not due:
                return triggers
            for user_id, timer in due:
                state = self.store.get(user_id)
                if state is None or state.timers.get(timer.key) != timer:
                    continue  # cancelled, re-armed or erased since it was queued
                self._keep(user_id, fire_timer(state, timer, self.config), triggers)

    def _sweep(self, now_ms: int) -> None:
        population = self.population
        store = self.store
        rebuilt = RfmQuantiles()
        user_ids = list(store)
        for user_id in user_ids:
            profile = store[user_id].profile
            if profile.last_purchase_ms is not None:
                rebuilt.observe(last_purchase_ms=profile.last_purchase_ms, orders=profile.order_count, spend=profile.total_spend)
        population.rfm = rebuilt
        gap_ms = self.profile_config.session_gap_ms
        for user_id in user_ids:
            state = store[user_id]
            profile = state.profile
            before = segments_of(profile)
            restaged = restage(profile, now_ms=now_ms, population=population)
            if drop_stale_keywords(profile, now_ms=now_ms, session_gap_ms=gap_ms) or restaged:
                self._count(before, segments_of(profile))
                store[user_id] = state
        population.last_sweep_ms = now_ms
        population.changed = True

    def _count(self, before: tuple[str, ...], after: tuple[str, ...]) -> None:
        if before != after:
            segments = self.segments
            for name in before:
                segments[name] -= 1
            for name in after:
                segments[name] += 1

    def _keep(self, user_id: str, step: Step, triggers: list[Trigger]) -> None:
        self.store[user_id] = step.state
        triggers.extend(step.triggers)
        for timer in step.schedule:
            self._timers.push(user_id, timer)
