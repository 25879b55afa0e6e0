"""What a partition learns about all of its users together: the yardsticks profiles are read against.

RFM quintiles, each category's running average price and the search keyword map are shared by
the users of one partition; so are the counts uplift is measured from (streams/uplift.py). Each worker owns whole partitions, so each learns from its own users
and an offline replay that splits users the same way learns the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.associations import Associations
from streams.jsonsize import json_size
from streams.keywords import KeywordMap
from streams.learning import Learner
from streams.rfm import RfmQuantiles
from streams.uplift import MAX_OUTCOME_RULES, RuleOutcomes

MAX_PRICED_CATEGORIES = 1_000  # per partition; further categories go unpriced
# Bytes the price table's category names may take in JSON, so the population record has a size
# bound (schemas/limits.py) whatever names shops send: a thousand names of 256 bytes would not fit.
MAX_PRICED_NAME_BYTES = 64 * 1024


@dataclass(slots=True)
class CategoryPrice:
    """The running mean price of what users looked at in a category."""

    count: int = 0
    mean: float = 0.0

    def add(self, price: float) -> None:
        self.count += 1
        self.mean += (price - self.mean) / self.count


@dataclass(slots=True)
class Population:
    rfm: RfmQuantiles = field(default_factory=RfmQuantiles)
    prices: dict[str, CategoryPrice] = field(default_factory=dict)
    keywords: KeywordMap = field(default_factory=KeywordMap)
    last_sweep_ms: int | None = None  # event time of the latest daily sweep
    outcomes: dict[str, RuleOutcomes] = field(default_factory=dict)  # per rule: sends, ghost sends, conversions
    models: dict[str, Learner] = field(default_factory=dict)  # streams/predictions.py: propensity, uplift per rule
    associations: Associations = field(default_factory=Associations)  # what is bought together or after what; restock intervals
    changed: bool = False  # set by every update; the owner clears it once the population is saved
    priced_name_bytes: int = field(default=-1, compare=False)  # JSON bytes of the names in ``prices``; -1: not counted yet

    def add_price(self, category: str, price: float) -> None:
        entry = self.prices.get(category)
        if entry is None:
            if self.priced_name_bytes < 0:
                self.priced_name_bytes = sum(json_size(name) for name in self.prices)
            size = json_size(category)
            if len(self.prices) >= MAX_PRICED_CATEGORIES or self.priced_name_bytes + size > MAX_PRICED_NAME_BYTES:
                return
            self.priced_name_bytes += size
            entry = self.prices[category] = CategoryPrice()
        entry.add(price)
        self.changed = True

    def rule_outcomes(self, rule: str) -> RuleOutcomes | None:
        """The rule's counts, to add to; None once MAX_OUTCOME_RULES rules are counted (the
        partition then stops counting new rule names, and its record stays bounded)."""
        outcomes = self.outcomes.get(rule)
        if outcomes is None:
            if len(self.outcomes) >= MAX_OUTCOME_RULES:
                return None
            outcomes = self.outcomes[rule] = RuleOutcomes()
        self.changed = True
        return outcomes

    def average_price(self, category: str) -> float | None:
        entry = self.prices.get(category)
        return entry.mean if entry is not None and entry.mean > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rfm": self.rfm.to_text(),
            "prices": {category: [entry.count, entry.mean] for category, entry in self.prices.items()},
            "keywords": self.keywords.to_dict(),
            "last_sweep_ms": self.last_sweep_ms,
            "outcomes": {rule: outcomes.to_list() for rule, outcomes in self.outcomes.items()},
            "models": {key: learner.to_list() for key, learner in self.models.items()},
            "associations": self.associations.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Population:
        return cls(
            rfm=RfmQuantiles.from_text(data["rfm"]),
            prices={category: CategoryPrice(count, mean) for category, (count, mean) in data["prices"].items()},
            keywords=KeywordMap.from_dict(data["keywords"]),
            last_sweep_ms=data["last_sweep_ms"],
            outcomes={rule: RuleOutcomes.from_list(counts) for rule, counts in data["outcomes"].items()},
            models={key: Learner.from_list(stored) for key, stored in data["models"].items()},
            associations=Associations() if "associations" not in data else Associations.from_dict(data["associations"]),  # format 4: none yet
        )
