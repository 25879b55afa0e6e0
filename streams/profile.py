"""A user's live profile: what they did and when, what they like, how they buy, when they listen.

Every field is updated in O(1) per event, in event time, by ``update_profile``. Fields read
against the whole partition (RFM scores, price index, the keyword map for searches) take the
partition's ``Population``. ``to_dict``/``from_dict`` are the stored form; ``view`` is what the
HTTP API shows, with scores decayed to a given moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.events import ALL_CHANNELS, Click, ClickAction, Consent, Event, Purchase, Search
from schemas.timestamps import format_rfc3339
from streams.cart import Cart, CartLine, add_to_cart, cart_value, remove_from_cart, remove_purchased
from streams.config import HOUR_MS, ProfileConfig
from streams.decay import DecayedScores
from streams.keywords import keywords
from streams.lifecycle import (
    AT_RISK_AFTER_MS,
    CHURNED_AFTER_MS,
    LOYAL_ORDERS,
    SILENT,
    VISIT_MS,
    VISITS_KEPT,
    Stage,
    lifecycle_stage,
    usual_gap_ms,
)
from streams.population import Population
from streams import purchases
from streams.rfm import RfmScores, rfm_scores, rfm_segment
from streams.sessions import Session, track_session

# Interest weights by what the user did: doing more for a product says more about wanting it.
VIEW_WEIGHT = 1.0
SEARCH_WEIGHT = 2.0
ADD_TO_CART_WEIGHT = 3.0
PURCHASE_WEIGHT = 5.0
TOP_K = 5
HOURS_PER_WEEK = 168
# 1970-01-01, hour 0 of the epoch, was a Thursday: hour 72 of a week that starts on Monday.
_EPOCH_HOUR_OF_WEEK = 72
# A user paying under 90 % of what their categories cost on average hunts bargains.
BARGAIN_INDEX = 0.9
PREMIUM_INDEX = 1.1
BARGAIN_COUPON_SHARE = 0.5
# Channels a profile keeps a consent record for, "all" included (see apply_consent for what a new
# channel beyond it does).
MAX_CONSENT_CHANNELS = 16


@dataclass(slots=True)
class Profile:
    user_id: str
    first_seen_ms: int
    last_seen_ms: int
    utc_offset_min: int = 0  # from the user's latest event: their local clock, for quiet hours
    counts: dict[str, int] = field(default_factory=dict)  # events by kind: view, add_to_cart, search...
    cart: Cart = field(default_factory=dict)
    total_spend: float = 0.0
    last_purchase_ms: int | None = None
    recent_orders_ms: list[int] = field(default_factory=list)  # the latest LOYAL_ORDERS order times, oldest first
    coupon_orders: int = 0
    price_ratio_sum: float = 0.0  # sum over bought items of price / the category's average price
    price_ratio_count: int = 0
    view_price_sum: float = 0.0  # sum over viewed products of price / the category's average price
    view_price_count: int = 0
    categories: DecayedScores = field(default_factory=DecayedScores)
    products: DecayedScores = field(default_factory=DecayedScores)
    rhythm: DecayedScores = field(default_factory=DecayedScores)  # hour of the week (local time) -> activity
    session: Session = field(default_factory=Session)
    pending_keywords: tuple[str, ...] = ()  # the last search's keywords, until the next view in its session
    last_search_category: str | None = None  # what the latest search meant, resolved at the time
    consents: dict[str, list[Any]] = field(default_factory=dict)  # channel -> [granted, ts_ms]
    stage: Stage = Stage.NEW
    stage_by: str | None = None  # why a win_back rule's thresholds made the user at_risk or churned; None: the fixed ones, or not silent
    visit_starts_ms: list[int] = field(default_factory=list)  # the latest VISITS_KEPT visits' start times, oldest first
    rfm: RfmScores | None = None
    # What the senders said (streams/channels.py): decayed "<channel>/delivered" and
    # "<channel>/responded" (opened or clicked), the latest response, and per channel why it is
    # blocked ("bounced", "unsubscribed", "complained") since when: [reason, ts_ms].
    engagement: DecayedScores = field(default_factory=DecayedScores)
    last_response: list[Any] | None = None  # [type, channel, ts_ms, trigger_id]
    channel_blocks: dict[str, list[Any]] = field(default_factory=dict)
    channel_reached: dict[str, int] = field(default_factory=dict)  # channel -> latest delivery, open or click: it worked then
    bought_ms: purchases.History = field(default_factory=dict)  # category -> latest purchase times (streams/purchases.py)

    @property
    def order_count(self) -> int:
        return self.counts.get("purchase", 0)

    @property
    def has_activity(self) -> bool:
        """Whether the user ever did anything in the shop; a consent message alone is not activity."""
        counts = self.counts
        return len(counts) > 1 or "consent" not in counts

    @property
    def rfm_segment(self) -> str | None:
        return None if self.rfm is None else rfm_segment(self.rfm)

    def consent_for(self, channel: str, *, default: bool) -> bool:
        """The latest word on the channel, whether it was about this channel or about all of them."""
        specific = self.consents.get(channel)
        every = self.consents.get(ALL_CHANNELS)
        if specific is None and every is None:
            return default
        if specific is None or (every is not None and every[1] > specific[1]):
            return bool(every[0])  # type: ignore[index]
        return bool(specific[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "first_seen_ms": self.first_seen_ms,
            "last_seen_ms": self.last_seen_ms,
            "utc_offset_min": self.utc_offset_min,
            "counts": dict(self.counts),
            "cart": [line.to_dict() for line in self.cart.values()],
            "total_spend": self.total_spend,
            "last_purchase_ms": self.last_purchase_ms,
            "recent_orders_ms": list(self.recent_orders_ms),
            "coupon_orders": self.coupon_orders,
            "price_ratio_sum": self.price_ratio_sum,
            "price_ratio_count": self.price_ratio_count,
            "view_price_sum": self.view_price_sum,
            "view_price_count": self.view_price_count,
            "categories": self.categories.to_dict(),
            "products": self.products.to_dict(),
            "rhythm": self.rhythm.to_dict(),
            "session": self.session.to_dict(),
            "pending_keywords": list(self.pending_keywords),
            "last_search_category": self.last_search_category,
            "consents": {channel: list(value) for channel, value in self.consents.items()},
            "stage": self.stage.value,
            "stage_by": self.stage_by,
            "visit_starts_ms": list(self.visit_starts_ms),
            "rfm": None if self.rfm is None else list(self.rfm),
            "engagement": self.engagement.to_dict(),
            "last_response": None if self.last_response is None else list(self.last_response),
            "channel_blocks": {channel: list(value) for channel, value in self.channel_blocks.items()},
            "channel_reached": dict(self.channel_reached),
            "bought_ms": {category: list(times) for category, times in self.bought_ms.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        rfm = data["rfm"]
        engagement = data.get("engagement")  # absent in format 4 records: before engagements
        last_response = data.get("last_response")
        return cls(
            user_id=data["user_id"],
            first_seen_ms=data["first_seen_ms"],
            last_seen_ms=data["last_seen_ms"],
            utc_offset_min=data["utc_offset_min"],
            counts=dict(data["counts"]),
            cart={line["product_id"]: CartLine(**line) for line in data["cart"]},
            total_spend=data["total_spend"],
            last_purchase_ms=data["last_purchase_ms"],
            recent_orders_ms=list(data["recent_orders_ms"]),
            coupon_orders=data["coupon_orders"],
            price_ratio_sum=data["price_ratio_sum"],
            price_ratio_count=data["price_ratio_count"],
            view_price_sum=data["view_price_sum"],
            view_price_count=data["view_price_count"],
            categories=DecayedScores.from_dict(data["categories"]),
            products=DecayedScores.from_dict(data["products"]),
            rhythm=DecayedScores.from_dict(data["rhythm"]),
            session=Session.from_dict(data["session"]),
            pending_keywords=tuple(data["pending_keywords"]),
            last_search_category=data["last_search_category"],
            consents={channel: list(value) for channel, value in data["consents"].items()},
            stage=Stage(data["stage"]),
            stage_by=data.get("stage_by"),  # absent in records from before adaptive win-back, as visit_starts_ms is
            visit_starts_ms=list(data.get("visit_starts_ms", ())),
            rfm=None if rfm is None else RfmScores(*rfm),
            engagement=DecayedScores() if engagement is None else DecayedScores.from_dict(engagement),
            last_response=None if last_response is None else list(last_response),
            channel_blocks={channel: list(value) for channel, value in data.get("channel_blocks", {}).items()},
            channel_reached=dict(data.get("channel_reached", {})),
            bought_ms={category: list(times) for category, times in data.get("bought_ms", {}).items()},  # format 5: none yet
        )

    def view(self, *, now_ms: int, config: ProfileConfig) -> dict[str, Any]:
        """The profile as marketers read it, with decaying scores taken at ``now_ms``."""
        orders = self.order_count
        price_index = self.price_index
        viewed = self.viewed_price_index
        return {
            "user_id": self.user_id,
            "as_of": format_rfc3339(now_ms),
            "first_seen": format_rfc3339(self.first_seen_ms),
            "last_seen": format_rfc3339(self.last_seen_ms),
            "lifecycle_stage": self.stage.value,
            "lifecycle_stage_by": self.stage_by,
            "counts": dict(self.counts),
            "cart": [line.to_dict() for line in self.cart.values()],
            "cart_value": cart_value(self.cart),
            "rfm": {
                "last_purchase": None if self.last_purchase_ms is None else format_rfc3339(self.last_purchase_ms),
                "order_count": orders,
                "total_spend": self.total_spend,
                "average_order_value": round(self.total_spend / orders, 2) if orders else None,
                "scores": None if self.rfm is None else self.rfm._asdict(),
                "segment": self.rfm_segment,
            },
            "interests": {
                "half_life_hours": config.interest_half_life_ms / HOUR_MS,
                "top_categories": _top(self.categories, now_ms, config.interest_half_life_ms),
                "top_products": _top(self.products, now_ms, config.interest_half_life_ms),
            },
            "price_sensitivity": {
                "coupon_share": round(self.coupon_orders / orders, 4) if orders else None,
                "price_index": None if price_index is None else round(price_index, 4),
                "viewed_price_index": None if viewed is None else round(viewed, 4),
                "label": self.price_sensitivity,
            },
            "rhythm": {"best_send_hour": self.best_send_hour(), "hours_of_week": _hours_of_week(self.rhythm, now_ms, config)},
            "session": self.session.view(),
            "visits": self._visits_view(),
            "consents": {
                channel: {"granted": bool(granted), "at": format_rfc3339(ts_ms)}
                for channel, (granted, ts_ms) in sorted(self.consents.items())
            },
            "consent_default": config.consent_default,
            "engagement": self._engagement_view(now_ms, config),
            "purchases_by_category": {
                category: {
                    "last": format_rfc3339(times[-1]),
                    "restocks": len(times),
                    "median_interval_days": None if len(times) < 2 else round(purchases.median(purchases.gaps_ms(times)) / (24 * HOUR_MS), 2),
                }
                for category, times in sorted(self.bought_ms.items())
            },
        }

    def _visits_view(self) -> dict[str, Any]:
        """How often the user comes back: what win_back rules measure their silence against."""
        starts = self.visit_starts_ms
        usual = usual_gap_ms(starts)
        return {
            "gaps_known": max(len(starts) - 1, 0),
            "usual_gap_days": None if usual is None else round(usual / (24 * HOUR_MS), 2),
            "last_started": format_rfc3339(starts[-1]) if starts else None,
        }

    def _engagement_view(self, now_ms: int, config: ProfileConfig) -> dict[str, Any]:
        """Per channel heard of, its decayed deliveries and responses and why it is blocked, if it is."""
        scores, half_life_ms = self.engagement, config.engagement_half_life_ms
        channels = sorted({key.rpartition("/")[0] for key in scores.scores} | set(self.channel_blocks))
        last = self.last_response
        return {
            "half_life_days": half_life_ms / (24 * HOUR_MS),
            "channels": {
                channel: {
                    "delivered": round(scores.value(f"{channel}/delivered", now_ms=now_ms, half_life_ms=half_life_ms), 4),
                    "responded": round(scores.value(f"{channel}/responded", now_ms=now_ms, half_life_ms=half_life_ms), 4),
                    "blocked": None
                    if channel not in self.channel_blocks
                    else {"reason": self.channel_blocks[channel][0], "since": format_rfc3339(self.channel_blocks[channel][1])},
                }
                for channel in channels
            },
            "last_response": None if last is None else {"type": last[0], "channel": last[1], "at": format_rfc3339(last[2]), "trigger_id": last[3]},
        }

    @property
    def price_index(self) -> float | None:
        """Average paid price relative to the category average: below 1 means a bargain hunter."""
        return self.price_ratio_sum / self.price_ratio_count if self.price_ratio_count else None

    @property
    def viewed_price_index(self) -> float | None:
        """Average viewed price relative to the category average: the taste in price of someone who
        has not bought yet (a bargain hunter looks at the cheap end of a shelf)."""
        return self.view_price_sum / self.view_price_count if self.view_price_count else None

    @property
    def price_sensitivity(self) -> str | None:
        """bargain_hunter, regular or premium; None before the first priced purchase or coupon."""
        orders = self.order_count
        if not orders:
            return None
        index = self.price_index
        if self.coupon_orders / orders >= BARGAIN_COUPON_SHARE or (index is not None and index < BARGAIN_INDEX):
            return "bargain_hunter"
        if index is not None and index > PREMIUM_INDEX:
            return "premium"
        return "regular"

    def best_send_hour(self) -> int | None:
        """The local hour of day (0-23) the user has been most active at, over all weekdays."""
        by_hour = [0.0] * 24
        for hour_of_week, score in self.rhythm.scores.items():
            by_hour[int(hour_of_week) % 24] += score
        best = max(range(24), key=by_hour.__getitem__)
        return best if by_hour[best] > 0 else None


def new_profile(event: Event) -> Profile:
    return Profile(
        user_id=event.user_id, first_seen_ms=event.ts_ms, last_seen_ms=event.ts_ms, utc_offset_min=event.utc_offset_min
    )


_ACTION_NAMES = {action: action.value for action in ClickAction}  # plain str keys, resolved once
_KIND_NAMES: dict[type, str] = {Search: "search", Purchase: "purchase", Consent: "consent"}
EVENT_KINDS = frozenset(_ACTION_NAMES.values()) | frozenset(_KIND_NAMES.values())
"""What ``event_kind`` can answer for the events the core processes (an erasure never gets here)."""
_HOUR_KEYS = tuple(str(hour) for hour in range(HOURS_PER_WEEK))  # rhythm keys, built once


def event_kind(event: Event) -> str:
    """The counter an event increments: a click's action, else the event type."""
    if type(event) is Click:
        return _ACTION_NAMES[event.action]
    return _KIND_NAMES[type(event)]


def hour_of_week(ts_ms: int, utc_offset_min: int) -> int:
    """Monday 00:00-00:59 local time is 0, Sunday 23:00-23:59 is 167.

    >>> hour_of_week(0, 0), hour_of_week(4 * 86_400_000, 60)  # Thu 00:00 UTC; Mon 01:00 at UTC+1
    (72, 1)
    """
    return ((ts_ms + utc_offset_min * 60_000) // HOUR_MS + _EPOCH_HOUR_OF_WEEK) % HOURS_PER_WEEK


def update_profile(
    profile: Profile, event: Event, *, config: ProfileConfig, population: Population, now_ms: int | None = None
) -> None:
    """Apply one event in place. Late events count like any other; they never move last_seen back.

    ``now_ms`` is the partition's clock, at which the lifecycle stage is taken; a late event
    must not make a user look younger than they are at that moment. It defaults to the event.

    >>> from schemas.events import Click, ClickAction
    >>> add = Click("e1", "u1", 1_000, 0, ClickAction.ADD_TO_CART, "p1", "shoes", 40.0, 2)
    >>> profile = new_profile(add); update_profile(profile, add, config=ProfileConfig(), population=Population())
    >>> profile.counts, profile.categories.top(1), profile.to_dict()["cart"][0]["quantity"]
    ({'add_to_cart': 1}, ['shoes'], 2)
    """
    kind = event_kind(event)
    profile.counts[kind] = profile.counts.get(kind, 0) + 1
    if isinstance(event, Consent):
        apply_consent(profile, event)
        return
    ts_ms = event.ts_ms
    if ts_ms < profile.first_seen_ms:
        profile.first_seen_ms = ts_ms
    if ts_ms >= profile.last_seen_ms:
        profile.last_seen_ms = ts_ms
        profile.utc_offset_min = event.utc_offset_min
    session_id = event.session_id if isinstance(event, (Click, Search)) else None  # purchases carry none
    if track_session(profile.session, user_id=profile.user_id, session_id=session_id, ts_ms=ts_ms, gap_ms=config.session_gap_ms):
        profile.pending_keywords = ()
        visits = profile.visit_starts_ms
        if not visits or ts_ms - visits[-1] >= VISIT_MS:  # sessions start in time order: a late event never starts one
            visits.append(ts_ms)
            if len(visits) > VISITS_KEPT:
                del visits[0]
    profile.rhythm.add(_HOUR_KEYS[hour_of_week(ts_ms, event.utc_offset_min)], 1.0, ts_ms=ts_ms, half_life_ms=config.rhythm_half_life_ms, cap=HOURS_PER_WEEK)
    if isinstance(event, Click):
        _apply_click(profile, event, config, population)
    elif isinstance(event, Search):
        _apply_search(profile, event, config, population)
    elif isinstance(event, Purchase):
        _apply_purchase(profile, event, config, population)
        _score_rfm(profile, population)
    last_seen_ms = profile.last_seen_ms
    stage = lifecycle_stage(
        profile.first_seen_ms,
        last_seen_ms,
        profile.recent_orders_ms,
        last_seen_ms if now_ms is None or now_ms < last_seen_ms else now_ms,
    )
    profile.stage = stage
    if profile.stage_by is not None and stage is not Stage.AT_RISK and stage is not Stage.CHURNED:
        profile.stage_by = None


def restage(
    profile: Profile,
    *,
    now_ms: int,
    population: Population,
    at_risk_after_ms: int = AT_RISK_AFTER_MS,
    churned_after_ms: int = CHURNED_AFTER_MS,
) -> bool:
    """Recompute lifecycle stage and RFM scores at ``now_ms``; True if either changed.

    The silence thresholds are the fixed ones unless the caller (the core, for a book with a
    win_back rule) gives the user's own; the caller also says why in ``stage_by``, which a move
    out of at_risk and churned clears here."""
    before = (profile.stage, profile.rfm)
    profile.stage = stage_at(profile, now_ms, at_risk_after_ms=at_risk_after_ms, churned_after_ms=churned_after_ms)
    if profile.stage not in SILENT:
        profile.stage_by = None
    _score_rfm(profile, population)
    return (profile.stage, profile.rfm) != before


def stage_at(profile: Profile, now_ms: int, *, at_risk_after_ms: int = AT_RISK_AFTER_MS, churned_after_ms: int = CHURNED_AFTER_MS) -> Stage:
    """The lifecycle stage at ``now_ms``, never looking before the latest event."""
    return lifecycle_stage(
        first_seen_ms=profile.first_seen_ms,
        last_seen_ms=profile.last_seen_ms,
        recent_orders_ms=profile.recent_orders_ms,
        now_ms=max(now_ms, profile.last_seen_ms),
        at_risk_after_ms=at_risk_after_ms,
        churned_after_ms=churned_after_ms,
    )


def drop_stale_keywords(profile: Profile, *, now_ms: int, session_gap_ms: int) -> bool:
    """Forget a search's keywords once its session is over, view or no view; True if any were held."""
    if not profile.pending_keywords or now_ms - profile.session.last_ms < session_gap_ms:
        return False
    profile.pending_keywords = ()
    return True


def _apply_click(profile: Profile, click: Click, config: ProfileConfig, population: Population) -> None:
    action = click.action
    ts_ms = click.ts_ms
    half_life_ms = config.interest_half_life_ms
    if action is ClickAction.VIEW:
        weight = VIEW_WEIGHT
        population.add_price(click.category, click.price)
        average = population.average_price(click.category)
        if average is not None:
            profile.view_price_sum += click.price / average
            profile.view_price_count += 1
        if profile.pending_keywords:
            population.keywords.learn(profile.pending_keywords, click.category)
            population.changed = True
            profile.pending_keywords = ()
    elif action is ClickAction.ADD_TO_CART:
        weight = ADD_TO_CART_WEIGHT
        add_to_cart(profile.cart, product_id=click.product_id, category=click.category, price=click.price, quantity=click.quantity)
    else:
        remove_from_cart(profile.cart, product_id=click.product_id, quantity=click.quantity)
        return
    profile.categories.add(click.category, weight, ts_ms=ts_ms, half_life_ms=half_life_ms, cap=config.max_categories)
    profile.products.add(click.product_id, weight, ts_ms=ts_ms, half_life_ms=half_life_ms, cap=config.max_products)


def _apply_search(profile: Profile, search: Search, config: ProfileConfig, population: Population) -> None:
    words = keywords(search.query)
    category = search.category or population.keywords.category_for(words)
    profile.pending_keywords = words
    profile.last_search_category = category
    if category is not None:
        profile.categories.add(
            category, SEARCH_WEIGHT, ts_ms=search.ts_ms, half_life_ms=config.interest_half_life_ms, cap=config.max_categories
        )


def _learn_basket(profile: Profile, purchase: Purchase, config: ProfileConfig, population: Population) -> None:
    """Teach the partition what this purchase says about categories bought together or in turn,
    and note it in the user's purchase history (before, so ``earlier`` is what came before it)."""
    ts_ms = purchase.ts_ms
    categories = sorted({item.category for item in purchase.items})
    history = profile.bought_ms
    associations = population.associations
    earlier = purchases.recent(history, before_ms=ts_ms, within_ms=config.association_window_ms)
    associations.learn(categories, earlier, [(item.category, item.product_id, item.quantity) for item in purchase.items])
    for category in categories:
        gap_ms = purchases.record(history, category, ts_ms)
        if gap_ms is not None:
            associations.learn_gap(category, gap_ms)
    population.changed = True


def _apply_purchase(profile: Profile, purchase: Purchase, config: ProfileConfig, population: Population) -> None:
    remove_purchased(profile.cart, purchase.items)
    ts_ms = purchase.ts_ms
    profile.total_spend = round(profile.total_spend + purchase.total, 2)
    if profile.last_purchase_ms is None or ts_ms > profile.last_purchase_ms:
        profile.last_purchase_ms = ts_ms
    recent = profile.recent_orders_ms
    recent.append(ts_ms)
    recent.sort()
    del recent[:-LOYAL_ORDERS]
    if purchase.coupon is not None:
        profile.coupon_orders += 1
    _learn_basket(profile, purchase, config, population)
    half_life_ms = config.interest_half_life_ms
    for item in purchase.items:
        profile.categories.add(item.category, PURCHASE_WEIGHT, ts_ms=ts_ms, half_life_ms=half_life_ms, cap=config.max_categories)
        profile.products.add(item.product_id, PURCHASE_WEIGHT, ts_ms=ts_ms, half_life_ms=half_life_ms, cap=config.max_products)
        average = population.average_price(item.category)
        if average is not None:
            profile.price_ratio_sum += item.price / average
            profile.price_ratio_count += 1
    population.rfm.observe(last_purchase_ms=profile.last_purchase_ms, orders=profile.order_count, spend=profile.total_spend)
    population.changed = True


def _score_rfm(profile: Profile, population: Population) -> None:
    bounds = population.rfm.boundaries()
    if profile.last_purchase_ms is None or bounds is None:
        profile.rfm = None
        return
    profile.rfm = rfm_scores(last_purchase_ms=profile.last_purchase_ms, orders=profile.order_count, spend=profile.total_spend, bounds=bounds)


def apply_consent(profile: Profile, consent: Consent) -> None:
    """Keep the latest word per channel in event time, so a late message cannot undo a newer one.

    An opt-in at or after the time a channel was blocked (a bounce, an unsubscribe) lifts the block:
    the user says the channel works again. An opt-in to ``all`` lifts every block.

    At most MAX_CONSENT_CHANNELS channels are kept. A channel new to a full profile pushes out the
    oldest opt-in, which only makes the profile more careful (that channel falls back to "all" or
    the default). If every record is an opt-out, none is dropped: a new opt-out becomes an opt-out
    of "all" (no message goes out without consent), and a new opt-in is not kept.

    >>> from schemas.events import Consent
    >>> profile = Profile("u1", 0, 0)
    >>> for n in range(MAX_CONSENT_CHANNELS + 1):
    ...     apply_consent(profile, Consent(f"e{n}", "u1", n, 0, f"channel-{n}", False))
    >>> len(profile.consents), profile.consent_for("channel-99", default=True)
    (16, False)
    """
    blocks = profile.channel_blocks
    if consent.granted and blocks:
        for channel in [name for name, (_, since_ms) in blocks.items() if consent.channel in (name, ALL_CHANNELS) and consent.ts_ms >= since_ms]:
            del blocks[channel]
    consents = profile.consents
    channel = consent.channel
    current = consents.get(channel)
    if current is not None:
        if consent.ts_ms >= current[1]:
            consents[channel] = [consent.granted, consent.ts_ms]
        return
    if len(consents) < MAX_CONSENT_CHANNELS:
        consents[channel] = [consent.granted, consent.ts_ms]
        return
    grants = [(ts_ms, name) for name, (granted, ts_ms) in consents.items() if granted and name != ALL_CHANNELS]
    if grants:
        del consents[min(grants)[1]]
        consents[channel] = [consent.granted, consent.ts_ms]
    elif not consent.granted:
        every = consents.get(ALL_CHANNELS)
        if every is None or consent.ts_ms >= every[1]:
            if every is None:
                del consents[min((ts_ms, name) for name, (_, ts_ms) in consents.items())[1]]
            consents[ALL_CHANNELS] = [False, consent.ts_ms]


def _top(scores: DecayedScores, now_ms: int, half_life_ms: int) -> list[dict[str, Any]]:
    return [{"key": key, "score": round(scores.value(key, now_ms=now_ms, half_life_ms=half_life_ms), 4)} for key in scores.top(TOP_K)]


def _hours_of_week(rhythm: DecayedScores, now_ms: int, config: ProfileConfig) -> dict[str, float]:
    decayed = rhythm.decayed(now_ms=now_ms, half_life_ms=config.rhythm_half_life_ms)
    return {hour: round(score, 4) for hour, score in sorted(decayed.items(), key=lambda item: int(item[0]))}
