"""Every Kafka topic Nudge reads or writes, with its partition count and cleanup policy.

All of them are created up front, before a worker starts: brokers that auto-create topics on
first use (the embedded one among them) would give them the wrong partition count.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.settings import Settings
from schemas.events import InputTopic
from schemas.outputs import CONVERSIONS, DEAD_LETTERS, ERASURES_DONE, SUPPRESSIONS, TRIGGERS

__all__ = [
    "CONVERSIONS", "DEAD_LETTERS", "ERASURES_DONE", "POPULATION_TABLE", "SUPPRESSIONS", "TRIGGERS", "USERS_TABLE",
    "TopicSpec", "all_topics", "changelog_topic", "faust_app_id", "input_topics",
]  # fmt: skip
USERS_TABLE = "users"
POPULATION_TABLE = "population"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


def input_topics(settings: Settings) -> dict[str, str]:
    """Logical input topic -> its name on the broker."""
    return {topic.value: settings.topic(topic.value) for topic in InputTopic}


def changelog_topic(settings: Settings, table: str = USERS_TABLE) -> str:
    """Faust names a table's changelog ``<app id>-<table>-changelog``."""
    return f"{faust_app_id(settings)}-{table}-changelog"


def faust_app_id(settings: Settings) -> str:
    """The prefix isolates consumer groups and changelogs as it isolates topics."""
    return f"{settings.topic_prefix}{settings.app_id}"


def all_topics(settings: Settings) -> list[TopicSpec]:
    n = settings.partitions
    specs = [TopicSpec(name, n) for name in input_topics(settings).values()]
    specs += [TopicSpec(settings.topic(name), n) for name in (TRIGGERS, SUPPRESSIONS, CONVERSIONS, DEAD_LETTERS, ERASURES_DONE)]
    specs.append(TopicSpec(changelog_topic(settings), n, compacted=True))
    specs.append(TopicSpec(changelog_topic(settings, POPULATION_TABLE), n, compacted=True))
    specs.append(TopicSpec(f"{faust_app_id(settings)}-__assignor-__leader", 1))
    return specs
