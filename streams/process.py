"""The heart of the core: one user's state, one event, timer or stage change, and what follows.

Both the Faust worker and the offline replay call these functions, so they agree exactly.
They mutate the state (and the partition's population) they are given and return the state,
so a caller decides whether to keep it. Rules propose candidates; every candidate passes the
guardrails here, and what they decide is returned as outputs (triggers, suppressions,
conversions) and timers to arm.
"""

from __future__ import annotations

from schemas.events import Consent, Engagement, EngagementType, Event, Purchase
from schemas.outputs import ConversionGroup, Output, Response, Suppression, SuppressionReason
from schemas.timestamps import format_rfc3339
from streams import channels, decisions
from streams.config import ProfileConfig
from streams.lifecycle import SILENT, Stage
from streams.population import Population
from streams.profile import EVENT_KINDS, event_kind, new_profile, restage, stage_at, update_profile
from streams import predictions
from streams.rules import attribution, follow_up, guardrails, variants, win_back
from streams.rules.base import Candidate, Context, Effects
from streams.rules.kinds import KINDS
from streams.rules.logic import RuleLogic
from streams.rules.spec import RuleBook, RuleSpec
from streams.uplift import RuleOutcomes
from streams.state import MAX_SENT_TIMES, UserState
from streams.timers import Timer

# What a sender may say about a message that makes its follow-up moot: the user acted on it.
_ENDS_FOLLOW_UP = frozenset(
    {EngagementType.OPENED, EngagementType.CLICKED, EngagementType.DISMISSED, EngagementType.UNSUBSCRIBED, EngagementType.COMPLAINED}
)
_RESPONSES = frozenset({EngagementType.OPENED, EngagementType.CLICKED})
_NEVER_MS = 1 << 62  # a silence threshold no user reaches


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
        self.rules_by_name.update({rule.follow_up.name: rule.follow_up for rule in enabled if rule.follow_up is not None})
        self._variant_salt = book.guardrails.variant_salt
        # A follow-up is part of its rule's treatment (the rule's holdout never gets the first
        # message, so never a follow-up): its conversions count as the rule's, its sends not at all.
        self._measured_as = {rule.follow_up.name: rule.name for rule in enabled if rule.follow_up is not None}
        # Per kind of event, the rules that react to it: a rule called for nothing still reads
        # the user's state, and that state is rarely in the CPU's cache.
        self._event_rules: dict[str, list[tuple[RuleSpec, RuleLogic]]] = {
            kind: [(rule, KINDS[rule.kind]) for rule in enabled if kind in KINDS[rule.kind].reacts_to] for kind in EVENT_KINDS
        }
        self._rules = [(rule, KINDS[rule.kind]) for rule in enabled]
        self._models = book.models.enabled
        self._ctx = Context(book, profile_config, Population(), 0)
        self._silence_rule = win_back.thresholds_rule(book)  # sets users' silence thresholds; None: the fixed ones
        # The least silence that rule's thresholds can call at risk (without one, never looked
        # at): a late event leaving a user less silent than this needs no second look.
        self._least_silence_ms = _NEVER_MS if self._silence_rule is None else win_back.least_silence_ms(self._silence_rule)

    def _context(self, population: Population, now_ms: int) -> Context:
        ctx = self._ctx
        ctx.population = population
        ctx.now_ms = now_ms
        return ctx

    def process_event(self, state: UserState | None, event: Event, *, population: Population, now_ms: int | None = None) -> Step:
        """Apply an event that is not an erasure (the partition engine handles those) at the
        partition clock ``now_ms`` (default: the event's own time). An engagement needs the
        user's state: the engine drops one about a user it does not hold."""
        if type(event) is Engagement:
            assert state is not None
            return self._engage(state, event, population)
        if state is None:
            state = UserState(profile=new_profile(event))
        before = state.profile.stage
        update_profile(state.profile, event, config=self.profile_config, population=population, now_ms=now_ms)
        if now_ms is not None and now_ms - state.profile.last_seen_ms >= self._least_silence_ms and type(event) is not Consent:
            self._restage_late(state, before, now_ms)
        step = Step(state)
        if self._models:
            book, ts_ms = self.book, event.ts_ms
            label_timer = predictions.purchased(state, population, now_ms=ts_ms, book=book) if isinstance(event, Purchase) else None
            if state.profile.session.events == 1:
                label_timer = predictions.session_started(state, population, now_ms=ts_ms, book=book, config=self.profile_config) or label_timer
            if label_timer is not None:
                step.schedule.append(label_timer)
        if isinstance(event, Purchase):
            if self._measured_as:  # some rule has a follow-up
                follow_up.cancel_all(state, event.ts_ms)
            conversion = attribution.convert(state, event, window_ms=self.book.guardrails.attribution_window_ms)
            if conversion is not None:
                step.outputs.append(conversion)
                if self._models:
                    label_timer = predictions.converted(state, population, trigger_id=conversion.trigger_id, now_ms=event.ts_ms, book=self.book)
                    if label_timer is not None:
                        step.schedule.append(label_timer)
                for outcomes in _outcomes(population, self._measured_as.get(conversion.rule, conversion.rule), conversion.variant):
                    if conversion.group is ConversionGroup.HOLDOUT:
                        outcomes.holdout_converted += 1
                    else:
                        outcomes.treated_converted += 1
        ctx = self._ctx
        ctx.population = population
        ctx.now_ms = event.ts_ms
        effects = Effects(step.schedule)
        salt, user_id = self._variant_salt, state.user_id
        for rule, logic in self._event_rules[event_kind(event)]:
            logic.on_event(variants.for_user(rule, user_id, salt=salt) if rule.variants else rule, state, event, ctx, effects)
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
        if rule.variants:
            rule = variants.for_user(rule, state.user_id, salt=self._variant_salt)
        ctx = self._context(population, timer.due_ms)
        candidate = KINDS[rule.kind].on_timer(rule, state, timer, ctx)
        if candidate is not None:
            self._decide(state, [candidate], step, population, held_from_ms=timer.first_due_ms)
        return step

    def restage(self, state: UserState, *, now_ms: int, population: Population) -> bool:
        """The daily sweep's re-staging of one user (lifecycle stage and RFM scores): with their
        silence thresholds by the book's win_back rule, if it has one. True if anything changed."""
        profile = state.profile
        rule = self._silence_rule
        if rule is None:
            stage_by = profile.stage_by  # left by a win_back rule since removed from the book
            profile.stage_by = None
            return restage(profile, now_ms=now_ms, population=population) or stage_by is not None
        if rule.variants:
            rule = variants.for_user(rule, state.user_id, salt=self._variant_salt)
        silence = win_back.silence_for(rule.params, profile.visit_starts_ms)  # type: ignore[arg-type]
        stage = profile.stage
        changed = restage(profile, now_ms=now_ms, population=population, at_risk_after_ms=silence.at_risk_ms, churned_after_ms=silence.churned_ms)
        if profile.stage in SILENT and (profile.stage is not stage or profile.stage_by is None):
            profile.stage_by = win_back.stage_by(rule, silence, profile.stage)
            return True
        return changed

    def _restage_late(self, state: UserState, before: Stage, now_ms: int) -> None:
        """A late event, older than the partition clock by long enough to be silence, was staged
        with the fixed thresholds. Stage it with the user's own, or it could end a spell that
        the next sweep starts again; and never move the user into (deeper) silence here: that is
        the sweep's, which the win_back rules answer."""
        profile = state.profile
        rule = self._silence_rule
        assert rule is not None  # else the least silence is never reached
        if rule.variants:
            rule = variants.for_user(rule, state.user_id, salt=self._variant_salt)
        silence = win_back.silence_for(rule.params, profile.visit_starts_ms)  # type: ignore[arg-type]
        stage = stage_at(profile, now_ms, at_risk_after_ms=silence.at_risk_ms, churned_after_ms=silence.churned_ms)
        if stage in SILENT and stage is not before:
            stage = before if before in SILENT else stage_at(profile, now_ms, at_risk_after_ms=_NEVER_MS, churned_after_ms=_NEVER_MS)
        profile.stage = stage
        profile.stage_by = win_back.stage_by(rule, silence, stage) if stage in SILENT else None

    def stage_changed(self, state: UserState, before: Stage, *, population: Population, now_ms: int) -> Step:
        """The daily sweep moved the user from ``before`` to their current stage."""
        step = Step(state)
        ctx = self._context(population, now_ms)
        salt = self._variant_salt
        candidates = [
            c
            for rule, logic in self._rules
            if (c := logic.on_stage_change(variants.for_user(rule, state.user_id, salt=salt), state, before, ctx)) is not None
        ]
        self._decide(state, candidates, step, population)
        return step

    def _engage(self, state: UserState, event: Engagement, population: Population) -> Step:
        """A sender's word on a trigger's message: learn the channel, act on an opt-out or a
        bounce, cancel the follow-up it makes moot, and count it for the trigger's rule."""
        step = Step(state)
        exposure = attribution.exposure_of(state, event.trigger_id)
        kind = event.type
        if exposure is None:
            first_response = kind is EngagementType.OPENED  # a click without its trigger may follow an open already counted
        else:
            first_response = kind in _RESPONSES and exposure.responded is None
        channels.apply_engagement(state.profile, event, first_response=first_response, config=self.profile_config)
        if kind in _ENDS_FOLLOW_UP:
            pending = state.timers.pop(follow_up.PREFIX + event.trigger_id, None)
            if pending is not None:
                state.note(event.ts_ms, pending.rule, decisions.CANCELLED, f"the first message was {kind.value} on {event.channel}: no follow-up needed")
        if exposure is not None:
            if kind in _RESPONSES and exposure.responded != EngagementType.CLICKED.value:
                exposure.responded = kind.value
            step.outputs.append(
                Response(event.trigger_id, state.user_id, exposure.rule, exposure.variant, event.channel, kind.value, event.ts_ms, exposure.ts_ms)
            )
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
        consent_default = self.profile_config.consent_default
        for candidate in sorted(candidates, key=_by_priority):
            trigger = candidate.trigger(state.user_id)
            decision = None
            if self._models:
                decision = predictions.decide(state, population, rule=candidate.rule.name, now_ms=candidate.ts_ms, book=book, config=self.profile_config)
                trigger.propensity, trigger.uplift = decision.propensity, decision.uplift
            trigger.channel, unusable = channels.choose(
                candidate.rule, state.profile, now_ms=candidate.ts_ms, consent_default=consent_default, config=self.profile_config, avoid=candidate.avoid_channel
            )
            if candidate.deadline_ms is not None and candidate.ts_ms > candidate.deadline_ms:
                verdict = guardrails.Verdict(suppressed=SuppressionReason.EXPIRED)
            elif unusable is not None:
                verdict = guardrails.Verdict(suppressed=unusable)
            else:
                verdict = guardrails.judge(
                    candidate,
                    state,
                    book=book,
                    propensity=None if decision is None else decision.propensity,
                    uplift=None if decision is None else decision.uplift,
                )
            if verdict.hold_until_ms is not None:
                first_due_ms = candidate.ts_ms if held_from_ms is None else held_from_ms
                timer = Timer(candidate.key, candidate.rule.name, verdict.hold_until_ms, candidate.cause, held_from_ms=first_due_ms)
                state.timers[candidate.key] = timer
                step.schedule.append(timer)
                until = format_rfc3339(verdict.hold_until_ms, state.profile.utc_offset_min)
                state.note(candidate.ts_ms, candidate.rule.name, decisions.HELD, f"quiet hours: held until {until}, their local time")
                continue
            state.fired[candidate.once_key] = candidate.ts_ms
            suppressed = verdict.suppressed
            if suppressed is None:
                state.note(candidate.ts_ms, candidate.rule.name, decisions.SENT, f"on {trigger.channel}: {candidate.reason}")
            else:
                state.note(candidate.ts_ms, candidate.rule.name, decisions.SUPPRESSED, f"{suppressed.value}: {decisions.GUARDRAIL_WORDS[suppressed]}")
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
            counted = [] if candidate.rule.name in self._measured_as else _outcomes(population, candidate.rule.name, candidate.rule.variant)
            if suppressed is None:
                step.outputs.append(trigger)
                for outcomes in counted:
                    outcomes.treated += 1
                if candidate.rule.follow_up is not None:
                    timer = follow_up.timer_for(candidate.rule, trigger)
                    follow_up.arm(state, timer)
                    step.schedule.append(timer)
            else:
                step.outputs.append(Suppression(trigger, suppressed))
                for outcomes in counted:
                    outcomes.holdout += 1
            if candidate.rule.name in self._measured_as:
                # The follow-up takes over from the message it follows: one conversion between them, not one each.
                attribution.forget(state, trigger.payload["follow_up_of"])
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


def _outcomes(population: Population, rule: str, variant: str | None) -> list[RuleOutcomes]:
    """The uplift counts to add a send or a conversion to: the rule's, and its variant's as
    ``<rule>/<variant>``, so every variant gets its own uplift and conversion rate."""
    counted = []
    outcomes = population.rule_outcomes(rule)
    if outcomes is not None:
        counted.append(outcomes)
    if variant is not None:
        outcomes = population.rule_outcomes(f"{rule}/{variant}")
        if outcomes is not None:
            counted.append(outcomes)
    return counted


def _by_priority(candidate: Candidate) -> tuple[int, str]:
    return -candidate.rule.priority, candidate.rule.name

