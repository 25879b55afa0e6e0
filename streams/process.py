"""The heart of the core: one user's state, one event, timer or stage change, and what follows.

Both the Faust worker and the offline replay call these functions, so they agree exactly.
They mutate the state (and the partition's population) they are given and return the state,
so a caller decides whether to keep it. Rules propose candidates; every candidate passes the
guardrails here, and what they decide is returned as outputs (triggers, suppressions,
conversions) and timers to arm.
"""

from __future__ import annotations

from typing import Callable

from schemas.events import Consent, Event, Purchase
from schemas.outputs import ConversionGroup, Output, Suppression, SuppressionReason
from streams.config import ProfileConfig
from streams.lifecycle import Stage
from streams.population import Population
from streams.profile import EVENT_KINDS, event_kind, new_profile, update_profile
from streams import predictions
from streams.rules import abandoned_cart, abandoned_interest, attribution, guardrails, timed_promotion, win_back
from streams.rules.base import Candidate, Context, Effects
from streams.rules.spec import RuleBook, RuleKind, RuleSpec
from streams.state import MAX_SENT_TIMES, UserState
from streams.timers import Timer

_ON_TIMER = {
    RuleKind.ABANDONED_CART: abandoned_cart.on_timer,
    RuleKind.ABANDONED_INTEREST: abandoned_interest.on_timer,
    RuleKind.TIMED_PROMOTION: timed_promotion.on_timer,
    RuleKind.WIN_BACK: win_back.on_timer,
}


class Step:
    """What one event, timer or stage change did to a user. A plain class: one is built per
    event, and a dataclass's default factories show in the hot path's profile."""

    __slots__ = ("state", "outputs", "schedule")

    def __init__(self, state: UserState) -> None:
        self.state = state
        self.outputs: list[Output] = []
        self.schedule: list[Timer] = []  # timers armed by this step


class Core:
    """The rule book and profile settings, with the rules sorted by kind once, not per event."""

    def __init__(self, book: RuleBook, profile_config: ProfileConfig) -> None:
        self.book = book
        self.profile_config = profile_config
        enabled = book.enabled
        self.rules_by_name = {rule.name: rule for rule in enabled}
        # Per kind of event, the rules that react to it: a rule called for nothing still reads
        # the user's state, and that state is rarely in the CPU's cache.
        self._event_rules: dict[str, list[tuple[RuleSpec, EventHandler]]] = {
            kind: [
                (rule, handler)
                for rule in enabled
                if rule.kind in _EVENT_HANDLERS
                for handler, reacts_to in (_EVENT_HANDLERS[rule.kind],)
                if reacts_to is None or kind in reacts_to
            ]
            for kind in EVENT_KINDS
        }
        self._win_back = [rule for rule in enabled if rule.kind is RuleKind.WIN_BACK]
        self._models = book.models.enabled
        self._ctx = Context(book, profile_config, Population(), 0)

    def _context(self, population: Population, now_ms: int) -> Context:
        ctx = self._ctx
        ctx.population = population
        ctx.now_ms = now_ms
        return ctx

    def process_event(self, state: UserState | None, event: Event, *, population: Population, now_ms: int | None = None) -> Step:
        """Apply an event that is not an erasure (the partition engine handles those) at the
        partition clock ``now_ms`` (default: the event's own time)."""
        if state is None:
            state = UserState(profile=new_profile(event))
        update_profile(state.profile, event, config=self.profile_config, population=population, now_ms=now_ms)
        step = Step(state)
        if self._models:
            book, ts_ms = self.book, event.ts_ms
            label_timer = predictions.purchased(state, population, now_ms=ts_ms, book=book) if isinstance(event, Purchase) else None
            if state.profile.session.events == 1:
                label_timer = predictions.session_started(state, population, now_ms=ts_ms, book=book, config=self.profile_config) or label_timer
            if label_timer is not None:
                step.schedule.append(label_timer)
        if isinstance(event, Purchase):
            conversion = attribution.convert(state, event, window_ms=self.book.guardrails.attribution_window_ms)
            if conversion is not None:
                step.outputs.append(conversion)
                if self._models:
                    label_timer = predictions.converted(state, population, trigger_id=conversion.trigger_id, now_ms=event.ts_ms, book=self.book)
                    if label_timer is not None:
                        step.schedule.append(label_timer)
                outcomes = population.rule_outcomes(conversion.rule)
                if outcomes is not None:
                    if conversion.group is ConversionGroup.HOLDOUT:
                        outcomes.holdout_converted += 1
                    else:
                        outcomes.treated_converted += 1
        ctx = self._ctx
        ctx.population = population
        ctx.now_ms = event.ts_ms
        effects = Effects(step.schedule)
        for rule, handler in self._event_rules[event_kind(event)]:
            handler(rule, state, event, ctx, effects)
        if self._win_back and not isinstance(event, Consent):
            for rule in self._win_back:
                win_back.on_event(rule, state)
        if effects.candidates:
            self._decide(state, effects.candidates, step, population)
        return step

    def fire_timer(self, state: UserState, timer: Timer, *, population: Population) -> Step:
        """Run a due timer's rule; the caller has checked it is still the one the user has pending."""
        step = Step(state)
        if timer.key == predictions.LABEL_TIMER:
            if self._models:
                label_timer = predictions.due(state, population, now_ms=timer.due_ms, book=self.book)
                if label_timer is not None:
                    step.schedule.append(label_timer)
            return step
        state.timers.pop(timer.key, None)
        rule = self.rules_by_name.get(timer.rule)
        if rule is None:
            return step  # the rule was removed or disabled since the timer was armed
        ctx = self._context(population, timer.due_ms)
        candidate = _ON_TIMER[rule.kind](rule, state, timer, ctx)
        if candidate is not None:
            self._decide(state, [candidate], step, population, held_from_ms=timer.first_due_ms)
        return step

    def stage_changed(self, state: UserState, before: Stage, *, population: Population, now_ms: int) -> Step:
        """The daily sweep moved the user from ``before`` to their current stage."""
        step = Step(state)
        ctx = self._context(population, now_ms)
        candidates = [c for rule in self._win_back if (c := win_back.on_stage_change(rule, state, before, ctx)) is not None]
        self._decide(state, candidates, step, population)
        return step

    def _decide(
        self, state: UserState, candidates: list[Candidate], step: Step, population: Population, *, held_from_ms: int | None = None
    ) -> None:
        """Put candidates through the guardrails, highest priority first (so a frequency cap
        suppresses the lower-priority ones), and record each decision; sends and ghost sends
        are counted in the population, for uplift."""
        if not candidates:
            return
        book = self.book
        window_ms = book.guardrails.attribution_window_ms
        for candidate in sorted(candidates, key=_by_priority):
            trigger = candidate.trigger(state.user_id)
            decision = None
            if self._models:
                decision = predictions.decide(state, population, rule=candidate.rule.name, now_ms=candidate.ts_ms, book=book, config=self.profile_config)
                trigger.propensity, trigger.uplift = decision.propensity, decision.uplift
            if candidate.deadline_ms is not None and candidate.ts_ms > candidate.deadline_ms:
                verdict = guardrails.Verdict(suppressed=SuppressionReason.EXPIRED)
            else:
                verdict = guardrails.judge(
                    candidate,
                    state,
                    book=book,
                    consent_default=self.profile_config.consent_default,
                    propensity=None if decision is None else decision.propensity,
                    uplift=None if decision is None else decision.uplift,
                )
            if verdict.hold_until_ms is not None:
                first_due_ms = candidate.ts_ms if held_from_ms is None else held_from_ms
                timer = Timer(candidate.key, candidate.rule.name, verdict.hold_until_ms, candidate.cause, held_from_ms=first_due_ms)
                state.timers[candidate.key] = timer
                step.schedule.append(timer)
                continue
            state.fired[candidate.once_key] = candidate.ts_ms
            suppressed = verdict.suppressed
            if decision is not None and predictions.sampled_candidate(trigger.trigger_id):
                self._expect(state, population, step, predictions.PROPENSITY, decision, candidate.ts_ms, raw=decision.raw_propensity)
            if suppressed is not None and suppressed is not SuppressionReason.HOLDOUT:
                step.outputs.append(Suppression(trigger, suppressed))
                continue
            # Sent, or held out at the moment it would have been sent (a ghost): either way it
            # counts towards the cap and waits for a conversion, in its own group.
            sent = state.sent_ms
            sent.append(candidate.ts_ms)
            if len(sent) > MAX_SENT_TIMES:  # the cap's own pruning keeps it short; without a cap, this does
                sent.sort()
                del sent[:-MAX_SENT_TIMES]
            outcomes = population.rule_outcomes(candidate.rule.name)
            if suppressed is None:
                step.outputs.append(trigger)
                if outcomes is not None:
                    outcomes.treated += 1
            else:
                step.outputs.append(Suppression(trigger, suppressed))
                if outcomes is not None:
                    outcomes.holdout += 1
            attribution.expose(state, candidate, trigger, holdout=suppressed is not None, window_ms=window_ms)
            if decision is not None:
                treated = suppressed is None
                key = predictions.uplift_key(candidate.rule.name, treated)
                raw = decision.raw_treated if treated else decision.raw_held_out
                self._expect(state, population, step, key, decision, candidate.ts_ms, raw=raw, trigger_id=trigger.trigger_id)

    def _expect(
        self,
        state: UserState,
        population: Population,
        step: Step,
        key: str,
        decision: predictions.Decision,
        now_ms: int,
        *,
        raw: float | None = None,
        trigger_id: str = "",
    ) -> None:
        label_timer = predictions.expect(
            state, population, key, features=decision.features, now_ms=now_ms, book=self.book, raw=raw, trigger_id=trigger_id
        )
        if label_timer is not None:
            step.schedule.append(label_timer)


def _by_priority(candidate: Candidate) -> tuple[int, str]:
    return -candidate.rule.priority, candidate.rule.name


EventHandler = Callable[[RuleSpec, UserState, Event, Context, Effects], None]

# Each rule kind's event handler, and the kinds of event it reacts to (None: every kind).
_EVENT_HANDLERS: dict[RuleKind, tuple[EventHandler, frozenset[str] | None]] = {
    RuleKind.ABANDONED_CART: (abandoned_cart.on_event, abandoned_cart.REACTS_TO),
    RuleKind.ABANDONED_INTEREST: (abandoned_interest.on_event, None),
    RuleKind.TIMED_PROMOTION: (timed_promotion.on_event, timed_promotion.REACTS_TO),
}
