"""Start a Faust worker: check the broker, create the topics, then hand over to Faust."""

from __future__ import annotations

import faust

from agents.admin import check_broker, ensure_topics, is_embedded_broker
from agents.app import build_app
from agents.settings import Settings
from agents.topics import all_topics


def uses_embedded_broker(settings: Settings) -> bool:
    if settings.true_end_offsets == "auto":
        return is_embedded_broker(settings)
    return settings.true_end_offsets == "on"


def run_worker(settings: Settings) -> None:
    """Blocks until the worker is stopped (SIGTERM or Ctrl-C, handled by Faust)."""
    check_broker(settings)
    embedded = uses_embedded_broker(settings)
    ensure_topics(settings, all_topics(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = build_app(settings, embedded_broker=embedded)
    worker = faust.Worker(app, loglevel=settings.log_level)
    worker.execute_from_commandline()
