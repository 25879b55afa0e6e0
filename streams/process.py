"""The heart of the core: one user's state, one event or timer, and what follows from it.

Both the Faust worker and the offline replay call these two functions, so they agree exactly.
They mutate the state (and the partition's population) they are given and return the state,
so a caller decides whether to keep it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.events import Event
from schemas.outputs import Trigger
from streams.config import ProfileConfig, RuleConfig
from streams.population import Population
from streams.profile import new_profile, update_profile
from streams.rules import abandoned_cart
from streams.state import UserState
from streams.timers import Timer


@dataclass(slots=True)
class Step:
    state: UserState
    triggers: list[Trigger] = field(default_factory=list)
    schedule: list[Timer] = field(default_factory=list)  # timers armed by this step


def process_event(
    state: UserState | None,
    event: Event,
    config: RuleConfig,
    *,
    profile_config: ProfileConfig,
    population: Population,
    now_ms: int | None = None,
) -> Step:
    """Apply an event that is not an erasure (the partition engine handles those) at the
    partition clock ``now_ms`` (default: the event's own time)."""
    if state is None:
        state = UserState(profile=new_profile(event))
    update_profile(state.profile, event, config=profile_config, population=population, now_ms=now_ms)
    step = Step(state)
    timer = abandoned_cart.on_event(state, event, config)
    if timer is not None:
        step.schedule.append(timer)
    return step


def fire_timer(state: UserState, timer: Timer, config: RuleConfig) -> Step:
    """Run a due timer's rule; the caller has checked it is still the one the user has pending."""
    step = Step(state)
    if timer.rule == abandoned_cart.RULE:
        trigger = abandoned_cart.on_timer(state, timer, config)
        if trigger is not None:
            step.triggers.append(trigger)
    return step
