"""Start a Faust worker: check the broker, the web port and the data directory, create the
topics, then hand over to Faust."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
from typing import IO

import faust

from agents.admin import check_broker, ensure_topics, is_embedded_broker
from agents.app import build_app
from agents.banner import quiet_faust_tables, startup_banner
from agents.broker import free_port, probe_bind
from agents.errors import SettingsError
from agents.rules import load_rules, warnings_for
from agents.settings import Settings
from agents.topics import all_topics


def uses_embedded_broker(settings: Settings) -> bool:
    if settings.embedded_broker == "auto":
        return is_embedded_broker(settings)
    return settings.embedded_broker == "on"


def claim_web_port(settings: Settings) -> Settings:
    """The settings with a web port this worker can bind: a free one when asked for 0, else the
    one given, which must not be taken. A second worker on a host would otherwise end in Faust's
    traceback from the web server, after it had joined the group and set off a rebalance."""
    if settings.web_port == 0:
        return dataclasses.replace(settings, web_port=free_port(settings.web_host))
    try:
        probe_bind(settings.web_host, settings.web_port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise SettingsError(f"cannot serve the web views on {settings.web_host}:{settings.web_port}: {exc.strerror}") from None
        raise SettingsError(
            f"web port {settings.web_port} on {settings.web_host} is taken (another worker?): "
            "give each worker its own with --web-port PORT, or --web-port 0 for any free one"
        ) from None
    return settings


def lock_data_dir(settings: Settings) -> IO[str]:
    """Hold the data directory for this worker's lifetime: two workers sharing one would share
    Faust's local state. The lock goes with the process, however it ends."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(settings.data_dir / "worker.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise SettingsError(
            f"the data directory {settings.data_dir} is in use by another worker ({holder}): "
            "give each worker its own with --data-dir DIR"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}")
    lock.flush()
    return lock


def run_worker(settings: Settings) -> None:
    """Blocks until the worker is stopped (SIGTERM or Ctrl-C, handled by Faust)."""
    book = load_rules(settings)  # a bad rules file fails before anything connects
    settings = claim_web_port(settings)
    lock = lock_data_dir(settings)
    check_broker(settings)
    embedded = uses_embedded_broker(settings)
    ensure_topics(settings, all_topics(settings))
    app = build_app(settings, book=book, embedded_broker=embedded)
    worker = faust.Worker(app, loglevel=settings.log_level)
    print(startup_banner(settings, book, embedded_broker=embedded), flush=True)
    for warning in warnings_for(book, settings):
        print(f"  warning  {warning}", flush=True)
    quiet_faust_tables(settings.log_level)
    # A service has no terminal to spin on, and Faust's spinner sets the root logger to DEBUG,
    # which makes every library debug call build a log record (about 20 % of throughput).
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    finally:
        lock.close()
