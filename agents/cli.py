"""The ``nudge`` command. User mistakes end as one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

from agents.errors import NudgeError
from agents.settings import Settings

DEFAULT_BROKER_PORT = 9092


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nudge",
        description="Real-time marketing triggers from shop events on Kafka.",
        epilog="Every setting can also come from the environment as NUDGE_<NAME>, e.g. NUDGE_BROKER.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    broker = commands.add_parser("broker", help="run the embedded Kafka-compatible broker in the foreground")
    broker.add_argument("--port", type=int, default=DEFAULT_BROKER_PORT, help="TCP port (default %(default)s)")
    _topic_options(broker)

    worker = commands.add_parser("worker", help="run a Faust worker: profiles, rules, triggers, /metrics")
    _broker_option(worker)
    _topic_options(worker)
    worker.add_argument("--web-port", type=int, help="port of /metrics and the HTTP views (default 6066)")
    worker.add_argument("--web-host", help="address the web server binds (default 127.0.0.1)")
    worker.add_argument("--data-dir", help="Faust's local data directory (default .nudge-data)")
    worker.add_argument("--rules", metavar="PATH", help="the rules file (YAML; default: the one shipped with Nudge)")
    worker.add_argument(
        "--interest-half-life", type=int, metavar="SECONDS", help="event time in which interest scores halve (default 86400)"
    )
    worker.add_argument("--consent-default", choices=["granted", "denied"], help="consent for a channel never spoken about")
    worker.add_argument("--log-level", choices=["debug", "info", "warning", "error"])

    generate = commands.add_parser("generate", help="produce synthetic shop traffic")
    _broker_option(generate)
    generate.add_argument("--topic-prefix", help="prefix of every topic name")
    _traffic_options(generate)
    generate.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: run until Ctrl-C)")

    forget = commands.add_parser("forget", help="erase a user: profile, pending timers, everything (right to erasure)")
    forget.add_argument("user_id", metavar="USER_ID")
    _broker_option(forget)
    forget.add_argument("--topic-prefix", help="prefix of every topic name")

    demo = commands.add_parser("demo", help="embedded broker + worker + traffic, printing triggers as they arrive")
    _traffic_options(demo, users=200, rate=40.0)
    demo.add_argument("--web-port", type=int, default=6066, help="worker's /metrics port (default %(default)s)")
    demo.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until Ctrl-C)")
    return parser


def _broker_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help="kafka://HOST:PORT (default kafka://127.0.0.1:9092, the local broker)")


def _topic_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic-prefix", help="prefix of every topic name")
    parser.add_argument("--partitions", type=int, help="partitions per topic (default 4)")


def _traffic_options(parser: argparse.ArgumentParser, *, users: int = 1000, rate: float = 100.0) -> None:
    parser.add_argument("--users", type=int, default=users, help="number of shoppers (default %(default)s)")
    parser.add_argument("--rate", type=float, default=rate, metavar="EVENTS_PER_S", help="wall-clock rate (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same traffic")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=60.0,
        help="event time runs this many times faster than the wall clock (default %(default)s: 30 min in 30 s)",
    )
    parser.add_argument("--bad-fraction", type=float, default=0.01, help="share of malformed messages (default %(default)s)")


def settings_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    flags: dict[str, Any] = {
        "broker": getattr(args, "broker", None),
        "topic_prefix": getattr(args, "topic_prefix", None),
        "partitions": getattr(args, "partitions", None),
        "web_port": getattr(args, "web_port", None),
        "web_host": getattr(args, "web_host", None),
        "data_dir": Path(args.data_dir) if getattr(args, "data_dir", None) else None,
        "rules": getattr(args, "rules", None),
        "interest_half_life_s": getattr(args, "interest_half_life", None),
        "consent_default": getattr(args, "consent_default", None),
        "log_level": getattr(args, "log_level", None),
    }
    return Settings.load(os.environ if environ is None else environ, **flags)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except NudgeError as exc:
        print(f"nudge {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _broker(args: argparse.Namespace) -> int:
    from agents.admin import ensure_topics
    from agents.broker import EmbeddedBroker
    from agents.topics import all_topics

    broker = EmbeddedBroker(port=args.port).start()
    try:
        settings = settings_from(args, {**os.environ, "NUDGE_BROKER": broker.url})
        ensure_topics(settings, all_topics(settings))
        print(f"embedded broker ready at {broker.url} with Nudge's topics; Ctrl-C stops it", flush=True)
        _wait_for_stop_signal()
    finally:
        broker.stop()
    return 0


def _worker(args: argparse.Namespace) -> int:
    from agents.worker import run_worker

    run_worker(settings_from(args))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from agents.generate import run_generator

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        sent = run_generator(
            settings_from(args),
            users=args.users,
            rate=args.rate,
            seed=args.seed,
            duration_s=args.duration,
            time_scale=args.time_scale,
            bad_fraction=args.bad_fraction,
            stop=stop,
        )
    except KeyboardInterrupt:
        stop.set()
        return 130
    print(f"sent {sent} events", file=sys.stderr)
    return 0


def _forget(args: argparse.Namespace) -> int:
    from agents.admin import check_broker
    from agents.forget import forget

    settings = settings_from(args)
    check_broker(settings)
    request = forget(settings, args.user_id)
    print(f"erasure of user {args.user_id!r} requested at {request['ts']} on {settings.topic('erasures')}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from agents.demo import run_demo

    return run_demo(args)


def _wait_for_stop_signal() -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


_COMMANDS = {"broker": _broker, "worker": _worker, "generate": _generate, "forget": _forget, "demo": _demo}

if __name__ == "__main__":
    sys.exit(main())
