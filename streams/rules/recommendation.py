"""What to recommend after a category: its best partner (streams/associations.py) the user has
not bought lately. cross_sell sends it on its own; other kinds name it in their payload as
``recommended_category``, where a message about one category has room for a second."""

from __future__ import annotations

from streams import purchases
from streams.associations import Association
from streams.rules.base import Context
from streams.state import UserState

MIN_SUPPORT = 5  # what other kinds' payloads ask of a pair: cross_sell's defaults
MIN_LIFT = 1.5


def recommend(state: UserState, ctx: Context, category: str, *, bought_ms: int, min_support: int, min_lift: float) -> Association | None:
    """The best partner of ``category`` the user has not bought from the association window
    before ``bought_ms`` on: who bought it meanwhile needs no nudge. "On", not "until now": after a
    late purchase, the moment the rule decides at may be older than purchases already applied."""
    history = state.profile.bought_ms
    since_ms = bought_ms - ctx.profile_config.association_window_ms
    for partner in ctx.population.associations.top(category, min_support=min_support, min_lift=min_lift):
        if not purchases.bought_since(history, partner.category, since_ms):
            return partner
    return None


def recommended_category(state: UserState, ctx: Context, category: str) -> str | None:
    """For another kind's payload: the partner of ``category`` to name beside it, if any."""
    partner = recommend(state, ctx, category, bought_ms=ctx.now_ms, min_support=MIN_SUPPORT, min_lift=MIN_LIFT)
    return None if partner is None else partner.category
