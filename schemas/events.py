"""Input event records: what shops send on ``clicks``, ``searches``, ``purchases``, ``consents``
and ``erasures``, and what the senders of triggers report on ``engagements``.

Events are never changed once decoded. They are not frozen dataclasses all the same: one is
built per message, and a frozen dataclass takes five times as long to build (each field goes
through ``object.__setattr__``), which showed in the replay's profile. The same holds for the
records the core builds per event or per decision: timers, candidates and outputs.

Those records spell out their ``__init__`` as well. Compiled (see setup.py), an ``__init__``
the dataclass decorator generates still runs as interpreted Python, three times slower than a
written one; the decorator still provides equality and ``repr``. tests/unit/test_records.py
holds each written ``__init__`` to its fields.

Times are epoch milliseconds (``ts_ms``) plus the sender's UTC offset in minutes, so rules can
reason about a user's local clock without re-parsing text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class InputTopic(StrEnum):
    """Logical input topic names; a deployment may prefix them."""

    CLICKS = "clicks"  # product views and cart changes
    SEARCHES = "searches"  # site searches
    PURCHASES = "purchases"  # completed orders
    CONSENTS = "consents"  # opt-ins and opt-outs per marketing channel
    ERASURES = "erasures"  # right-to-erasure requests: forget the user
    ENGAGEMENTS = "engagements"  # what became of a trigger: delivered, opened, bounced... (written by the senders)


class ClickAction(StrEnum):
    """What a click did."""

    VIEW = "view"  # looked at a product page
    ADD_TO_CART = "add_to_cart"  # put quantity units in the cart
    REMOVE_FROM_CART = "remove_from_cart"  # took quantity units out of the cart


CLICK_ACTIONS: dict[str, ClickAction] = {action.value: action for action in ClickAction}
"""Each click action by its wire name: a dict lookup, where calling the enum costs ten times more."""


@dataclass(slots=True)
class Click:
    event_id: str
    user_id: str
    ts_ms: int
    utc_offset_min: int
    action: ClickAction
    product_id: str
    category: str
    price: float
    quantity: int = 1
    session_id: str | None = None

    def __init__(
        self,
        event_id: str,
        user_id: str,
        ts_ms: int,
        utc_offset_min: int,
        action: ClickAction,
        product_id: str,
        category: str,
        price: float,
        quantity: int = 1,
        session_id: str | None = None,
    ) -> None:
        self.event_id = event_id
        self.user_id = user_id
        self.ts_ms = ts_ms
        self.utc_offset_min = utc_offset_min
        self.action = action
        self.product_id = product_id
        self.category = category
        self.price = price
        self.quantity = quantity
        self.session_id = session_id


@dataclass(slots=True)
class Search:
    event_id: str
    user_id: str
    ts_ms: int
    utc_offset_min: int
    query: str
    category: str | None = None
    session_id: str | None = None

    def __init__(
        self,
        event_id: str,
        user_id: str,
        ts_ms: int,
        utc_offset_min: int,
        query: str,
        category: str | None = None,
        session_id: str | None = None,
    ) -> None:
        self.event_id = event_id
        self.user_id = user_id
        self.ts_ms = ts_ms
        self.utc_offset_min = utc_offset_min
        self.query = query
        self.category = category
        self.session_id = session_id


@dataclass(slots=True)
class LineItem:
    product_id: str
    category: str
    price: float
    quantity: int

    def __init__(self, product_id: str, category: str, price: float, quantity: int) -> None:
        self.product_id = product_id
        self.category = category
        self.price = price
        self.quantity = quantity


@dataclass(slots=True)
class Purchase:
    event_id: str
    user_id: str
    ts_ms: int
    utc_offset_min: int
    order_id: str
    items: tuple[LineItem, ...]
    total: float
    coupon: str | None = None

    def __init__(
        self,
        event_id: str,
        user_id: str,
        ts_ms: int,
        utc_offset_min: int,
        order_id: str,
        items: tuple[LineItem, ...],
        total: float,
        coupon: str | None = None,
    ) -> None:
        self.event_id = event_id
        self.user_id = user_id
        self.ts_ms = ts_ms
        self.utc_offset_min = utc_offset_min
        self.order_id = order_id
        self.items = items
        self.total = total
        self.coupon = coupon


ALL_CHANNELS = "all"
"""The consent channel that stands for every channel at once."""


@dataclass(slots=True)
class Consent:
    """A user's opt-in (``granted``) or opt-out for one channel, or for ``all`` of them."""

    event_id: str
    user_id: str
    ts_ms: int
    utc_offset_min: int
    channel: str
    granted: bool

    def __init__(self, event_id: str, user_id: str, ts_ms: int, utc_offset_min: int, channel: str, granted: bool) -> None:
        self.event_id = event_id
        self.user_id = user_id
        self.ts_ms = ts_ms
        self.utc_offset_min = utc_offset_min
        self.channel = channel
        self.granted = granted


@dataclass(slots=True)
class Erasure:
    """Forget everything about the user as of ``ts_ms``."""

    event_id: str
    user_id: str
    ts_ms: int
    utc_offset_min: int

    def __init__(self, event_id: str, user_id: str, ts_ms: int, utc_offset_min: int) -> None:
        self.event_id = event_id
        self.user_id = user_id
        self.ts_ms = ts_ms
        self.utc_offset_min = utc_offset_min


class EngagementType(StrEnum):
    """What a sender saw become of a trigger's message."""

    DELIVERED = "delivered"  # reached the user's device or inbox
    OPENED = "opened"  # the user opened it
    CLICKED = "clicked"  # the user followed its link
    DISMISSED = "dismissed"  # the user swiped it away unread
    BOUNCED = "bounced"  # the channel could not deliver it (a dead address, an uninstalled app)
    UNSUBSCRIBED = "unsubscribed"  # the user opted out of the channel from the message
    COMPLAINED = "complained"  # the user marked it as spam


ENGAGEMENT_TYPES: dict[str, EngagementType] = {kind.value: kind for kind in EngagementType}
"""Each engagement type by its wire name."""


@dataclass(slots=True)
class Engagement:
    """A sender's report on one trigger's message: ``trigger_id`` names the trigger, ``channel``
    the channel it went out on."""

    event_id: str
    user_id: str
    ts_ms: int
    utc_offset_min: int
    trigger_id: str
    channel: str
    type: EngagementType

    def __init__(
        self, event_id: str, user_id: str, ts_ms: int, utc_offset_min: int, trigger_id: str, channel: str, type: EngagementType
    ) -> None:
        self.event_id = event_id
        self.user_id = user_id
        self.ts_ms = ts_ms
        self.utc_offset_min = utc_offset_min
        self.trigger_id = trigger_id
        self.channel = channel
        self.type = type


Activity = Click | Search | Purchase
"""What a shopper does: the events that shape interests, sessions, rhythm and lifecycle."""

Event = Click | Search | Purchase | Consent | Erasure | Engagement
