"""Start a Faust worker: check the broker, create the topics, then hand over to Faust."""

from __future__ import annotations

import faust

from agents.admin import check_broker, ensure_topics, is_embedded_broker
from agents.app import build_app
from agents.rules import load_rules
from agents.settings import Settings
from agents.topics import all_topics


def uses_embedded_broker(settings: Settings) -> bool:
    if settings.embedded_broker == "auto":
        return is_embedded_broker(settings)
    return settings.embedded_broker == "on"


def run_worker(settings: Settings) -> None:
    """Blocks until the worker is stopped (SIGTERM or Ctrl-C, handled by Faust)."""
    book = load_rules(settings)  # a bad rules file fails before anything connects
    check_broker(settings)
    embedded = uses_embedded_broker(settings)
    ensure_topics(settings, all_topics(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = build_app(settings, book=book, embedded_broker=embedded)
    worker = faust.Worker(app, loglevel=settings.log_level)
    # A service has no terminal to spin on, and Faust's spinner sets the root logger to DEBUG,
    # which makes every library debug call build a log record (about 20 % of throughput).
    worker.spinner = None
    worker.execute_from_commandline()
