"""One partition's event-time engine: its clock, its timers, its population and the users it owns.

A partition's clock is its watermark, the largest event time released so far; an idle live
partition may also be moved on by the caller (see ``advance``). Timers fire when the clock
reaches them, before any event at or after their due time is applied, so a purchase one
millisecond before a deadline cancels it and one at the deadline comes too late.

At each midnight (UTC) the clock passes, the daily sweep re-stages every user: silence alone
moves people to at_risk and churned (which is what win-back rules answer, and the first of them
sets how much silence that takes: see streams/rules/win_back.py), RFM quintiles are
rebuilt from the actual customers, and search keywords left from sessions that ended without
a view are forgotten.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, MutableMapping

from schemas.events import Engagement, Erasure, Event
from schemas.outputs import ErasureDone, Output
from streams.config import DAY_MS, ProfileConfig
from streams.population import Population
from streams.process import Core, Step
from streams.profile import drop_stale_keywords
from streams.rfm import RfmQuantiles
from streams.rules.spec import RuleBook
from streams.segments import segments_of
from streams.state import UserState
from streams.predictions import LABEL_TIMER, label_timer
from streams.timers import TimerQueue


class PartitionEngine:
    """Drives the core over a store of user states.

    The store is any mutable mapping (a dict offline, a Faust table view in a worker); every
    state the engine changes is assigned back to it, and an erased user is deleted from it,
    which is how a caller learns what to save.

    >>> from schemas.events import Click, ClickAction
    >>> from streams.rules.spec import AbandonedCartParams, NO_GUARDRAILS, RuleKind, RuleSpec
    >>> cart = RuleSpec("abandoned_cart", RuleKind.ABANDONED_CART, "push", AbandonedCartParams(delay_ms=1000))
    >>> engine = PartitionEngine(store={}, book=RuleBook((cart,), NO_GUARDRAILS))
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
        book: RuleBook,
        profile_config: ProfileConfig | None = None,
        population: Population | None = None,
    ) -> None:
        self.store = store
        self.core = Core(book, profile_config or ProfileConfig())
        self.population = population or Population()
        self.clock_ms: int | None = None
        self.restored_ms: int | None = None  # the latest event time among restored users
        self.segments: Counter[str] = Counter()  # users per lifecycle stage and RFM segment
        self._timers = TimerQueue()

    @property
    def profile_config(self) -> ProfileConfig:
        return self.core.profile_config

    def restore(self, states: Iterable[UserState]) -> None:
        """Re-queue the pending timers of restored users.

        The clock does not resume at their latest event (``restored_ms``): it starts again with
        the first event applied. A restart reads again what was not committed, and the state it
        restores may be ahead of that for some users: resuming the clock at the latest of them
        fired the timers that the events read again would have cancelled or pushed back.
        ``restored_ms`` is where a partition that gets no event at all (caught up and quiet)
        takes its clock up again."""
        for state in states:
            for timer in state.timers.values():
                self._timers.arm(state.user_id, timer)
            labels = label_timer(state)
            if labels is not None:
                self._timers.arm(state.user_id, labels)
            last_seen = state.profile.last_seen_ms
            if self.restored_ms is None or last_seen > self.restored_ms:
                self.restored_ms = last_seen
            self.segments.update(segments_of(state.profile))

    @property
    def pending_timers(self) -> int:
        """Users and keys queued to wake, including some whose timer was cancelled: an upper bound."""
        return len(self._timers)

    def on_event(self, event: Event) -> list[Output]:
        user_id = event.user_id
        if isinstance(event, Erasure):
            # Applied at the partition's clock, which it never moves: its time is when the
            # erasure was asked for, and a partition whose event time lags (a catch-up, a
            # replay) would otherwise fire everyone else's timers at once.
            state = self.store.get(user_id)
            if state is not None:
                self.segments.subtract(segments_of(state.profile))
                del self.store[user_id]
            erased_ms = event.ts_ms if self.clock_ms is None else self.clock_ms
            return [ErasureDone(event.event_id, user_id, state is not None, event.ts_ms, erased_ms)]
        outputs = self.advance(event.ts_ms)
        state = self.store.get(user_id)
        if state is None and isinstance(event, Engagement):
            return outputs  # about a user not held (erased since, or never seen): nothing to learn or count
        before = () if state is None else segments_of(state.profile)
        step = self.core.process_event(state, event, population=self.population, now_ms=self.clock_ms)
        self._count(before, segments_of(step.state.profile))
        self._keep(user_id, step, outputs)
        if step.schedule and self.clock_ms is not None:
            # A late event can arm a timer that is already due.
            outputs.extend(self._fire_due(self.clock_ms))
        return outputs

    def advance(self, now_ms: int) -> list[Output]:
        """Move the clock forward (never back); fire every timer and run every sweep it passes."""
        previous = self.clock_ms
        if previous is None or now_ms > previous:
            self.clock_ms = now_ms
        if previous is None and self.population.last_sweep_ms is None:
            self.population.last_sweep_ms = now_ms - now_ms % DAY_MS  # nothing to sweep before the first event
        clock_ms: int = self.clock_ms  # type: ignore[assignment]
        last_sweep = self.population.last_sweep_ms
        if last_sweep is not None and clock_ms - last_sweep >= DAY_MS:
            # After a long gap, only the latest midnight is swept: the state at the others is gone anyway.
            midnight = clock_ms - clock_ms % DAY_MS
            outputs = self._fire_due(midnight - 1)
            self._sweep(midnight, outputs)
            outputs.extend(self._fire_due(clock_ms))
            return outputs
        return self._fire_due(clock_ms)

    def _fire_due(self, limit_ms: int) -> list[Output]:
        outputs: list[Output] = []
        timers = self._timers
        if not timers.due(limit_ms):
            return outputs
        while (entry := timers.pop(limit_ms)) is not None:
            due_ms, first_due_ms, user_id, key = entry
            state = self.store.get(user_id)
            if state is None:
                continue  # erased since it was queued
            timer = state.timers.get(key) if key != LABEL_TIMER else label_timer(state)
            if timer is None:
                continue  # cancelled since it was queued
            if timer.due_ms != due_ms or timer.first_due_ms != first_due_ms:
                timers.arm(user_id, timer)  # re-armed since it was queued: wait for its own turn
                continue
            self._keep(user_id, self.core.fire_timer(state, timer, population=self.population), outputs)
        return outputs

    def _sweep(self, now_ms: int, outputs: list[Output]) -> None:
        population = self.population
        store = self.store
        rebuilt = RfmQuantiles()
        # By user id, not the store's order: the quantile estimates depend on the order they
        # are fed, and a store on disk, a restored table and a dict each iterate differently.
        user_ids = sorted(store)
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
            stage = profile.stage
            restaged = self.core.restage(state, now_ms=now_ms, population=population)
            if drop_stale_keywords(profile, now_ms=now_ms, session_gap_ms=gap_ms) or restaged:
                self._count(before, segments_of(profile))
                if profile.stage is not stage:
                    self._keep(user_id, self.core.stage_changed(state, stage, population=population, now_ms=now_ms), outputs)
                else:
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

    def _keep(self, user_id: str, step: Step, outputs: list[Output]) -> None:
        self.store[user_id] = step.state
        outputs.extend(step.outputs)
        for timer in step.schedule:
            self._timers.arm(user_id, timer)
