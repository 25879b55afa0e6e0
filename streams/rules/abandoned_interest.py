"""abandoned_interest: someone showed interest in a category, then walked away from it.

Interest is ``min_views`` product views in a category, or a search for it plus
``min_views_after_search`` views, all within ``window``. If no add to cart or purchase in that
category follows within ``delay`` of the latest interest event, and the user's decayed
affinity for the category is still above ``affinity_threshold``, one trigger names the
category and its most-viewed products. At most one per (user, category) per ``once_per``, and
never more than ``max_lateness`` after the latest interest: pushing days later backfires.
"""

from __future__ import annotations

from typing import Any

from schemas.events import Click, ClickAction, Event, Purchase, Search
from schemas.timestamps import format_rfc3339
from streams.decisions import CANCELLED, DROPPED, FELL_SHORT, duration
from streams.rules.base import Candidate, Context, Effects
from streams.rules.logic import RuleLogic
from streams.rules.recommendation import recommended_category
from streams.profile import EVENT_KINDS
from streams.rules.spec import AbandonedInterestParams, RuleKind, RuleSpec
from streams.state import MAX_PRODUCTS_PER_EPISODE, InterestEpisode, UserState
from streams.timers import Timer

# Episodes kept per user before stale ones are swept out.
_PRUNE_ABOVE = 8
# Spells of interest a user may have open at once, over every rule; a new one beyond it drops the
# spell touched longest ago, with its pending reminder. A user who browses a hundred categories in
# half an hour is a crawler, and their record must still fit in one Kafka message.
MAX_INTEREST_EPISODES = 16
# Per-category once-per marks kept per rule; beyond it the oldest goes (it could let that
# category fire again within once_per). Marks older than once_per go anyway: they decide nothing.
MAX_FIRED_CATEGORIES = 16
# Timer keys ("<rule>/<category>") built once and shared: the same string object every time, so
# looking one up in a user's timers and episodes matches by identity, without comparing text
# stored in some other corner of memory. Categories are input, so the cache is bounded.
_KEY_CACHE_LIMIT = 10_000
_keys: dict[str, dict[str, str]] = {}


REACTS_TO = EVENT_KINDS
"""Every event: views and searches make an interest, adds and purchases end one, and any event
prunes spells gone stale."""


def _key(rule: RuleSpec, category: str) -> str:
    keys = _keys.get(rule.name)
    if keys is None:
        keys = _keys[rule.name] = {}
    key = keys.get(category)
    if key is None:
        key = f"{rule.name}/{category}"
        if len(keys) < _KEY_CACHE_LIMIT:
            keys[category] = key
    return key


def _on_view(rule: RuleSpec, params: AbandonedInterestParams, state: UserState, click: Click, key: str, effects: Effects) -> None:
    ts_ms = click.ts_ms
    episode = _episode(state, key, ts_ms, params)
    views = episode.views_ms
    views.append(ts_ms)
    views.sort()
    oldest = ts_ms - params.window_ms
    while views and views[0] < oldest:
        del views[0]
    del views[: -params.min_views]
    products = episode.products
    if click.product_id in products or len(products) < MAX_PRODUCTS_PER_EPISODE:
        products[click.product_id] = products.get(click.product_id, 0) + 1
    if ts_ms > episode.last_activity_ms:
        episode.last_activity_ms = ts_ms
    searched = episode.search_ms is not None and abs(ts_ms - episode.search_ms) <= params.window_ms
    # Older views are gone already; only a late view can leave newer ones outside the window.
    if views[-1] - ts_ms <= params.window_ms:
        recent = len(views)
    else:
        recent = sum(1 for view_ms in views if view_ms - ts_ms <= params.window_ms)
    if recent >= params.min_views or (searched and recent >= params.min_views_after_search):
        _interested(rule, params, state, episode, key, ts_ms, click.event_id, effects)
    elif recent == params.min_views - 1:  # one view short: worth saying why nothing was sent
        category = key[len(rule.name) + 1 :]
        why = f"{category}: {recent} of {params.min_views} views within {duration(params.window_ms)}, no interest yet"
        state.note_progress(ts_ms, rule.name, FELL_SHORT, why, category)


def _on_search(rule: RuleSpec, params: AbandonedInterestParams, state: UserState, search: Search, key: str, effects: Effects) -> None:
    ts_ms = search.ts_ms
    episode = _episode(state, key, ts_ms, params)
    if episode.search_ms is None or ts_ms > episode.search_ms:
        episode.search_ms = ts_ms
    if ts_ms > episode.last_activity_ms:
        episode.last_activity_ms = ts_ms
    recent = sum(1 for view_ms in episode.views_ms if abs(ts_ms - view_ms) <= params.window_ms)
    if recent >= params.min_views_after_search:
        _interested(rule, params, state, episode, key, ts_ms, search.event_id, effects)


def _episode(state: UserState, key: str, ts_ms: int, params: AbandonedInterestParams) -> InterestEpisode:
    """The spell this event belongs to: the current one, or a fresh one after a quiet window."""
    episode = state.interests.get(key)
    if episode is None or (key not in state.timers and ts_ms - episode.last_activity_ms > params.window_ms):
        if episode is None and len(state.interests) >= MAX_INTEREST_EPISODES:
            _prune(state, ts_ms, params)
            if len(state.interests) >= MAX_INTEREST_EPISODES:
                _walked_in(None, state, min(state.interests.items(), key=lambda item: (item[1].last_activity_ms, item[0]))[0], ts_ms, "")
        episode = state.interests[key] = InterestEpisode(last_activity_ms=ts_ms)
    return episode


def _interested(
    rule: RuleSpec, params: AbandonedInterestParams, state: UserState, episode: InterestEpisode, key: str, ts_ms: int, cause: str, effects: Effects
) -> None:
    """Interest shown at ``ts_ms``: (re-)arm the timer from it, never pulling a later one earlier."""
    if episode.last_interest_ms is None or ts_ms > episode.last_interest_ms:
        episode.last_interest_ms = ts_ms
    due_ms = ts_ms + params.delay_ms
    pending = state.timers.get(key)
    if pending is not None and pending.first_due_ms >= due_ms:  # a held timer keeps its real deadline
        return
    timer = Timer(key=key, rule=rule.name, due_ms=due_ms, cause=cause)
    state.timers[key] = timer
    effects.schedule.append(timer)


def _walked_in(rule: RuleSpec | None, state: UserState, key: str, ts_ms: int, how: str) -> None:
    """An add to cart or purchase in the category: the interest was not abandoned (``rule``
    None: the spell is only making room, and nothing is noted)."""
    if state.timers.pop(key, None) is not None and rule is not None:
        category = key[len(rule.name) + 1 :]
        state.note(ts_ms, rule.name, CANCELLED, f"{category}: {how} before the reminder was due", category)
    state.interests.pop(key, None)


def _prune(state: UserState, now_ms: int, params: AbandonedInterestParams) -> None:
    """Forget spells that are over: no timer pending and nothing within the window."""
    stale = [
        key
        for key, episode in state.interests.items()
        if key not in state.timers and now_ms - episode.last_activity_ms > params.window_ms
    ]
    for key in stale:
        del state.interests[key]


def _forget_old_marks(rule: RuleSpec, state: UserState, now_ms: int, params: AbandonedInterestParams) -> None:
    """Drop this rule's once-per marks that no longer decide anything, then the oldest past the cap."""
    prefix = rule.name + "/"
    fired = state.fired
    marks = sorted((fired_ms, key) for key, fired_ms in fired.items() if key.startswith(prefix))
    excess = len(marks) - MAX_FIRED_CATEGORIES
    for index, (fired_ms, key) in enumerate(marks):
        if index < excess or now_ms - fired_ms >= params.once_per_ms:
            del fired[key]


class AbandonedInterest(RuleLogic):
    """An interest walked away from: see the module's docstring."""

    def __init__(self) -> None:
        super().__init__(RuleKind.ABANDONED_INTEREST, AbandonedInterestParams, REACTS_TO)

    def on_event(self, rule: RuleSpec, state: UserState, event: Event, ctx: Context, effects: Effects) -> None:
        params: AbandonedInterestParams = rule.params  # type: ignore[assignment]
        if isinstance(event, Click):
            key = _key(rule, event.category)
            if event.action is ClickAction.VIEW:
                _on_view(rule, params, state, event, key, effects)
            elif event.action is ClickAction.ADD_TO_CART:
                _walked_in(rule, state, key, event.ts_ms, "added to the cart")
        elif isinstance(event, Search):
            category = state.profile.last_search_category
            if category is not None:
                _on_search(rule, params, state, event, _key(rule, category), effects)
        elif isinstance(event, Purchase):
            for category in sorted({item.category for item in event.items}):
                _walked_in(rule, state, _key(rule, category), event.ts_ms, "bought")
        if len(state.interests) > _PRUNE_ABOVE:
            _prune(state, event.ts_ms, params)
        if len(state.fired) > _PRUNE_ABOVE:
            _forget_old_marks(rule, state, event.ts_ms, params)

    def on_timer(self, rule: RuleSpec, state: UserState, timer: Timer, ctx: Context) -> Candidate | None:
        params: AbandonedInterestParams = rule.params  # type: ignore[assignment]
        episode = state.interests.get(timer.key)
        if episode is None or episode.last_interest_ms is None:
            return None
        category = timer.key[len(rule.name) + 1 :]
        if state.fired_within(timer.key, now_ms=ctx.now_ms, window_ms=params.once_per_ms):
            state.note(ctx.now_ms, rule.name, DROPPED, f"{category}: one went out less than {duration(params.once_per_ms)} ago (once_per)", category)
            return None
        config = ctx.profile_config
        affinity = state.profile.categories.value(category, now_ms=ctx.now_ms, half_life_ms=config.interest_half_life_ms)
        if affinity <= params.affinity_threshold:
            state.note(ctx.now_ms, rule.name, DROPPED, f"{category}: affinity {affinity:.2f}, not above {params.affinity_threshold:g} any more", category)
            return None
        products = [product for product, _ in sorted(episode.products.items(), key=lambda item: (-item[1], item[0]))]
        payload: dict[str, Any] = {
            "category": category,
            "products": products[: params.top_products],
            "affinity": round(affinity, 4),
            "last_interest": format_rfc3339(episode.last_interest_ms),
        }
        recommended = recommended_category(state, ctx, category)
        if recommended is not None:
            payload["recommended_category"] = recommended
        return Candidate(
            rule=rule,
            key=timer.key,
            cause=timer.cause,
            ts_ms=ctx.now_ms,
            payload=payload,
            reason=f"showed interest in {category} and left it for {params.delay_ms // 60_000} min without adding to cart",
            once_key=timer.key,
            deadline_ms=episode.last_interest_ms + params.max_lateness_ms,
            categories=(category,),
        )

    def delay_ms(self, params: Any) -> int:
        return int(params.delay_ms)

    def example(self) -> RuleSpec:
        return RuleSpec("interest", RuleKind.ABANDONED_INTEREST, "push", AbandonedInterestParams())

    def summary(self, payload: dict[str, Any]) -> str:
        return f"{payload['category']}: {', '.join(payload.get('products', []))}"
