"""What a worker says when it starts: a few lines a person reads, not Faust's tables.

The banner names what runs (version, compiled or source core), where it reads and writes (broker,
security, prefix, partitions, replication), which rules are loaded, where its state lives and
where to look (``/metrics``, the views, whether they need a token). Faust's own start-up logs
print every topic and offset as ASCII tables, about a hundred lines that bury this; at the
``info`` level they are kept to warnings, and ``NUDGE_LOG_LEVEL=debug`` brings them back.
"""

from __future__ import annotations

import importlib.metadata
import logging

from agents.settings import Settings
from schemas.compiled import BUILD
from streams.rules.spec import RuleBook

# Loggers whose info lines are Faust's start-up and rebalance tables.
TABLE_LOGGERS = ("faust.tables.recovery", "faust.transport.drivers.aiokafka", "aiokafka.consumer.subscription_state", "aiokafka.consumer.group_coordinator")


def startup_banner(settings: Settings, book: RuleBook, *, embedded_broker: bool) -> str:
    """
    >>> from streams.rules.loading import default_rulebook
    >>> print(startup_banner(Settings(), default_rulebook(), embedded_broker=True))  # doctest: +ELLIPSIS
    nudge worker ... (core: ...)
      broker   kafka://127.0.0.1:9092 (embedded), PLAINTEXT, 4 partitions, replication 1, topic prefix ''
      rules    the shipped default: abandoned_cart, abandoned_interest, ...; models on (logistic)
      state    memory store in .nudge-data
      http     http://127.0.0.1:6066/metrics; /profiles/{user}, /segments/{name}/count, /uplift open to any caller
    """
    enabled = ", ".join(rule.name for rule in book.enabled) or "none enabled"
    models = f"models on ({book.models.propensity})" if book.models.enabled else "models off"
    views = "need the bearer token (NUDGE_HTTP_TOKEN)" if settings.http_token else "open to any caller"
    base = f"http://{settings.web_host}:{settings.web_port}"
    return "\n".join(
        [
            f"nudge worker {importlib.metadata.version('nudge')} (core: {BUILD})",
            f"  broker   {settings.broker} ({'embedded' if embedded_broker else 'Kafka'}), {settings.security_protocol}, "
            f"{settings.partitions} partitions, replication {settings.replication_factor}, topic prefix {settings.topic_prefix!r}",
            f"  rules    {settings.rules or 'the shipped default'}: {enabled}; {models}",
            f"  state    {settings.store} store in {settings.data_dir}",
            f"  http     {base}/metrics; /profiles/{{user}}, /segments/{{name}}/count, /uplift {views}",
        ]
    )


def quiet_faust_tables(log_level: str) -> None:
    """Keep Faust's start-up tables to warnings unless debugging."""
    if log_level.lower() != "debug":
        for name in TABLE_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
