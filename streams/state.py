"""Everything the core keeps about one user: the profile, pending timers and the rules' memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.profile import Profile
from streams.timers import Timer

MAX_EXPOSURES = 16  # triggers (and holdout records) remembered for conversion attribution
MAX_EXPOSURE_PRODUCTS = 10  # products an exposure matches purchases on (a cart's latest lines)
MAX_PRODUCTS_PER_EPISODE = 10
MAX_SENT_TIMES = 64  # send times kept for the frequency cap, the latest; a cap above it is not kept to
MAX_PENDING_LABELS = 12  # decision points awaiting their label (see streams/predictions.py); the oldest go first
MAX_DECISIONS = 32  # the rules' latest decisions about the user, kept to explain them (streams/decisions.py)
DECISIONS_KEEP_MS = 30 * 24 * 3_600_000  # ... and none older than this, before the newest


@dataclass(slots=True)
class Exposure:
    """A trigger sent to the user, or the record of one held out, awaiting a purchase and the
    senders' word on its message (engagements)."""

    rule: str
    trigger_id: str
    ts_ms: int
    holdout: bool
    categories: tuple[str, ...] = ()  # a purchase converts only if it matches; both empty: any purchase
    products: tuple[str, ...] = ()
    channel: str = ""
    variant: str | None = None
    responded: str | None = None  # the strongest response so far: "opened", then "clicked"

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(
        self,
        rule: str,
        trigger_id: str,
        ts_ms: int,
        holdout: bool,
        categories: tuple[str, ...] = (),
        products: tuple[str, ...] = (),
        channel: str = "",
        variant: str | None = None,
        responded: str | None = None,
    ) -> None:
        self.rule = rule
        self.trigger_id = trigger_id
        self.ts_ms = ts_ms
        self.holdout = holdout
        self.categories = categories
        self.products = products
        self.channel = channel
        self.variant = variant
        self.responded = responded

    def to_list(self) -> list[Any]:
        return [
            self.rule, self.trigger_id, self.ts_ms, self.holdout, list(self.categories), list(self.products), self.channel, self.variant, self.responded
        ]  # fmt: skip

    @classmethod
    def from_list(cls, data: list[Any]) -> Exposure:
        rule, trigger_id, ts_ms, holdout, categories, products = data[:6]
        if len(data) == 6:  # format 4: before engagements
            return cls(rule, trigger_id, ts_ms, holdout, tuple(categories), tuple(products))
        channel, variant, responded = data[6:9]
        return cls(rule, trigger_id, ts_ms, holdout, tuple(categories), tuple(products), channel, variant, responded)


@dataclass(slots=True)
class PendingLabel:
    """A decision point's features, waiting for its label: a purchase by ``due_ms`` (1), or none (0)."""

    model: str  # the learner it teaches: "propensity", or "uplift/<rule>/treated|holdout"
    ts_ms: int
    due_ms: int
    features: list[float]  # streams/features.py FEATURES order
    predicted: float  # the learner's probability at ts_ms, for progressive validation
    trigger_id: str = ""  # an uplift label's send (or ghost send): its conversion is the 1

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(self, model: str, ts_ms: int, due_ms: int, features: list[float], predicted: float, trigger_id: str = "") -> None:
        self.model = model
        self.ts_ms = ts_ms
        self.due_ms = due_ms
        self.features = features
        self.predicted = predicted
        self.trigger_id = trigger_id

    def to_list(self) -> list[Any]:
        return [self.model, self.ts_ms, self.due_ms, self.features, self.predicted, self.trigger_id]

    @classmethod
    def from_list(cls, data: list[Any]) -> PendingLabel:
        model, ts_ms, due_ms, features, predicted = data[:5]
        return cls(model, ts_ms, due_ms, list(features), predicted, data[5] if len(data) > 5 else "")  # 5 long: before uplift labels named their send


@dataclass(slots=True)
class InterestEpisode:
    """One spell of interest in a category: recent views, a search, the products looked at."""

    views_ms: list[int] = field(default_factory=list)  # the latest view times, oldest first
    search_ms: int | None = None
    products: dict[str, int] = field(default_factory=dict)  # views per product in this spell
    last_interest_ms: int | None = None  # the latest event that made (or renewed) the interest
    last_activity_ms: int = 0

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(
        self,
        views_ms: list[int] | None = None,
        search_ms: int | None = None,
        products: dict[str, int] | None = None,
        last_interest_ms: int | None = None,
        last_activity_ms: int = 0,
    ) -> None:
        self.views_ms = [] if views_ms is None else views_ms
        self.search_ms = search_ms
        self.products = {} if products is None else products
        self.last_interest_ms = last_interest_ms
        self.last_activity_ms = last_activity_ms

    def to_list(self) -> list[Any]:
        return [self.views_ms, self.search_ms, self.products, self.last_interest_ms, self.last_activity_ms]

    @classmethod
    def from_list(cls, data: list[Any]) -> InterestEpisode:
        views_ms, search_ms, products, last_interest_ms, last_activity_ms = data
        return cls(list(views_ms), search_ms, dict(products), last_interest_ms, last_activity_ms)


@dataclass(slots=True)
class UserState:
    profile: Profile
    timers: dict[str, Timer] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=dict)  # once-per key -> when its trigger was decided
    sent_ms: list[int] = field(default_factory=list)  # triggers sent in the frequency-cap window
    exposures: list[Exposure] = field(default_factory=list)
    interests: dict[str, InterestEpisode] = field(default_factory=dict)  # "<rule>/<category>" -> spell
    pending: list[PendingLabel] = field(default_factory=list)  # decision points awaiting a label, oldest first
    decisions: list[list[Any]] = field(default_factory=list)  # [ts_ms, rule, outcome, reason, subject], in the order taken

    def note(self, ts_ms: int, rule: str, outcome: str, reason: str, subject: str = "") -> None:
        """Keep one of a rule's decisions about the user, as streams/decisions.py explains them."""
        trace = self.decisions
        trace.append([ts_ms, rule, outcome, reason, subject])
        _trim(trace, ts_ms)

    def note_progress(self, ts_ms: int, rule: str, outcome: str, reason: str, subject: str) -> None:
        """Like ``note``, but in place of the latest entry when that one is about the same rule,
        outcome and subject: a spell of interest that falls short keeps one line, not one per view."""
        trace = self.decisions
        if trace:
            last = trace[-1]
            if last[1] == rule and last[2] == outcome and last[4] == subject:
                last[0], last[3] = ts_ms, reason
                return
        self.note(ts_ms, rule, outcome, reason, subject)

    @property
    def user_id(self) -> str:
        return self.profile.user_id

    def fired_within(self, once_key: str, *, now_ms: int, window_ms: int) -> bool:
        """Whether a trigger for ``once_key`` was decided less than ``window_ms`` before ``now_ms``."""
        fired_ms = self.fired.get(once_key)
        return fired_ms is not None and now_ms - fired_ms < window_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile.to_dict(),
            "timers": [timer.to_dict() for timer in self.timers.values()],
            "fired": dict(self.fired),
            "sent_ms": list(self.sent_ms),
            "exposures": [exposure.to_list() for exposure in self.exposures],
            "interests": {key: episode.to_list() for key, episode in self.interests.items()},
            "pending": [label.to_list() for label in self.pending],
            "decisions": [list(entry) for entry in self.decisions],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserState:
        timers = (Timer(**timer) for timer in data["timers"])
        return cls(
            profile=Profile.from_dict(data["profile"]),
            timers={timer.key: timer for timer in timers},
            fired=dict(data["fired"]),
            sent_ms=list(data["sent_ms"]),
            exposures=[Exposure.from_list(item) for item in data["exposures"]],
            interests={key: InterestEpisode.from_list(item) for key, item in data["interests"].items()},
            pending=[PendingLabel.from_list(item) for item in data["pending"]],
            decisions=[list(entry) for entry in data.get("decisions", ())],  # none before format 6
        )


def _trim(trace: list[list[Any]], now_ms: int) -> None:
    """The latest MAX_DECISIONS, none older than DECISIONS_KEEP_MS before ``now_ms``."""
    if len(trace) > MAX_DECISIONS:
        del trace[: len(trace) - MAX_DECISIONS]
    oldest_ms = now_ms - DECISIONS_KEEP_MS
    while trace and trace[0][0] < oldest_ms:
        del trace[0]
