"""The ``nudge`` command. User mistakes end as one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from agents.errors import NudgeError, SettingsError
from agents.security import Secret
from agents.settings import Settings
from schemas.events import InputTopic

DEFAULT_BROKER_PORT = 9092
DEFAULT_RECORDING_COUNT = 10_000  # messages `generate --out` writes without --count or --duration
# The synthetic shop's defaults, shared by `generate` and `senders` so their personas match.
DEFAULT_USERS = 1000
DEFAULT_SEED = 1
DEFAULT_TIME_SCALE = 60.0


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
    worker.add_argument("--web-port", type=int, help="port of /metrics and the HTTP views (default 6066; 0: any free port)")
    worker.add_argument("--web-host", help="address the web server binds (default 127.0.0.1)")
    worker.add_argument("--data-dir", help="the worker's local data directory, one per worker (default .nudge-data)")
    worker.add_argument("--rules", metavar="PATH", help="the rules file (YAML; default: the one shipped with Nudge)")
    worker.add_argument(
        "--interest-half-life", type=int, metavar="SECONDS", help="event time in which interest scores halve (default 86400)"
    )
    worker.add_argument("--consent-default", choices=["granted", "denied"], help="consent for a channel never spoken about")
    worker.add_argument("--store", choices=["memory", "rocksdb"], help="where the tables live: in memory (default) or RocksDB on disk")
    _skew_option(worker)
    worker.add_argument("--log-level", choices=["debug", "info", "warning", "error"])

    generate = commands.add_parser("generate", help="produce synthetic shop traffic")
    _broker_option(generate)
    generate.add_argument("--topic-prefix", help="prefix of every topic name")
    _traffic_options(generate)
    generate.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: run until Ctrl-C)")
    generate.add_argument("--out", metavar="FILE", help="write a recording (JSON Lines, .gz for gzip) instead of producing to Kafka")
    generate.add_argument("--count", type=int, help=f"messages written with --out (default {DEFAULT_RECORDING_COUNT:,}; or --duration x --rate)")
    generate.add_argument("--partitions", type=int, help="partitions the recording's lines are assigned to (default 4)")
    generate.add_argument("--start", metavar="RFC3339", help="event time of the first message (default: now)")
    generate.add_argument(
        "--plant-effect",
        action="store_true",
        help="make the abandoned-cart reminder work: held-out shoppers (as the rules hold them out) come back to buy less often",
    )
    generate.add_argument("--rules", metavar="PATH", help="with --plant-effect: the rules whose holdout it follows (default: the shipped ones)")
    generate.add_argument(
        "--plant-journeys",
        action="store_true",
        help="give cross-sell and replenishment rules something to find: a few new categories; a baby_formula purchase often "
        "followed by diapers 1-3 days later, a smartphone by phone_accessories; and about a third of the shoppers buying coffee "
        "on a cycle of their own (7-35 days). Changes the stream; without it the stream is as before",
    )

    record = commands.add_parser("record", help="capture live input topics into a recording, without disturbing the workers")
    _broker_option(record)
    record.add_argument("--topic-prefix", help="prefix of every topic name")
    record.add_argument("--topics", default=",".join(topic.value for topic in InputTopic), help="logical topics, comma-separated (default: every input topic, engagements included)")
    record.add_argument("--out", required=True, metavar="FILE", help="the recording (JSON Lines; .gz for gzip)")
    record.add_argument("--from-beginning", action="store_true", help="start at each partition's first message instead of now")
    stop_after = record.add_mutually_exclusive_group()
    stop_after.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    stop_after.add_argument("--max-messages", type=int, metavar="N", help="stop after N messages")
    record.add_argument("--scrub", action="store_true", help="leave out the users who asked to be forgotten (by an erasure in the recording); see Privacy")

    replay = commands.add_parser("replay", help="replay a recording: offline through the core, or into Kafka")
    replay.add_argument("file", metavar="FILE", help="a recording (JSON Lines, .gz for gzip)")
    where = replay.add_mutually_exclusive_group(required=True)
    where.add_argument("--offline", action="store_true", help="run the core in-process, no broker; needs --out")
    where.add_argument("--broker", help="produce the recording into this Kafka (kafka://HOST:PORT)")
    replay.add_argument("--out", metavar="FILE", help="offline: where every trigger, suppression, conversion and dead letter goes")
    replay.add_argument("--rules", metavar="PATH", help="offline: the rules file (default: the shipped one)")
    replay.add_argument("--partitions", type=int, help="partitions of the topics (default 4): offline, how users are split; into Kafka, what the topics must have")
    _skew_option(replay, prefix="offline: ")
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="into Kafka: original gaps divided by this (default %(default)s)")
    pace.add_argument("--max-speed", action="store_true", help="into Kafka: as fast as possible")
    replay.add_argument("--topic-prefix", help="into Kafka: prefix of every topic name")
    replay.add_argument("--scrub", action="store_true", help="leave out the users who asked to be forgotten (by an erasure in the recording); see Privacy")

    backtest = commands.add_parser("backtest", help="two rule files over one recording, offline: per rule what changed, and trigger by trigger")
    backtest.add_argument("file", metavar="RECORDING", help="a recording (JSON Lines, .gz for gzip), e.g. from `nudge generate --out`")
    backtest.add_argument("--rules", metavar="OLD", help="the rules today (default: the shipped ones)")
    backtest.add_argument("--against", metavar="NEW", required=True, help="the rules to try")
    backtest.add_argument("--diff", metavar="FILE", default="backtest-diff.jsonl", help="every changed trigger, as JSON Lines (default %(default)s)")
    backtest.add_argument("--html", metavar="FILE", default="backtest.html", help="the report with its charts, one self-contained file (default %(default)s)")
    backtest.add_argument("--partitions", type=int, help="how users are split, as the topics' partitions (default 4)")
    _skew_option(backtest)

    explain = commands.add_parser("explain", help="why, and why not: one user's latest rule decisions, from a recording replayed offline")
    explain.add_argument("user_id", metavar="USER")
    explain.add_argument("--recording", metavar="FILE", required=True, help="a recording (JSON Lines, .gz for gzip)")
    explain.add_argument("--rules", metavar="PATH", help="the rules file (default: the shipped one)")
    explain.add_argument("--partitions", type=int, help="how users are split, as the topics' partitions (default 4)")
    _skew_option(explain)

    forget = commands.add_parser("forget", help="erase a user: profile, pending timers, everything (right to erasure)")
    forget.add_argument("user_id", metavar="USER_ID")
    _broker_option(forget)
    forget.add_argument("--topic-prefix", help="prefix of every topic name")
    forget.add_argument("--wait", action="store_true", help="return only once the worker that owns the user has erased them, and say so")
    forget.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="with --wait: how long to wait for the confirmation (default %(default)s)")

    uplift = commands.add_parser("uplift", help="uplift per rule, treated against held out, with sample sizes and a 95 %% interval")
    source = uplift.add_mutually_exclusive_group()
    source.add_argument("--url", default="http://127.0.0.1:6066", help="any worker's web address (default %(default)s): it asks the others")
    source.add_argument("--recording", metavar="FILE", help="compute it offline from a recording, as a replay would")
    uplift.add_argument("--rules", metavar="PATH", help="with --recording: the rules file (default: the shipped one)")
    uplift.add_argument("--partitions", type=int, help="with --recording: how users are split (default 4)")
    uplift.add_argument("--json", action="store_true", help="print the JSON answer instead of a table")

    scrub_parser = commands.add_parser("scrub", help="copy a recording without the users who asked to be forgotten")
    scrub_parser.add_argument("recording", metavar="FILE", help="the recording (JSON Lines; .gz for gzip)")
    scrub_parser.add_argument("--out", required=True, metavar="FILE", help="the scrubbed copy")
    scrub_parser.add_argument("--users", default="", metavar="U1,U2", help="also remove every message of these users (erasures asked for outside the recording)")

    tail_parser = commands.add_parser("tail", help="print a topic's messages as they arrive, one JSON line each")
    tail_parser.add_argument("topic", metavar="TOPIC", help="triggers, suppressions, conversions, dead-letters, clicks, ... (without the prefix)")
    _broker_option(tail_parser)
    tail_parser.add_argument("--topic-prefix", help="prefix of every topic name")
    tail_parser.add_argument("--from-beginning", action="store_true", help="start at each partition's first message instead of now")
    tail_parser.add_argument("--max-messages", type=int, metavar="N", help="stop after N messages")
    tail_parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until Ctrl-C)")

    senders = commands.add_parser(
        "senders",
        help="simulate the push, email and SMS senders: read triggers, write engagements as the synthetic shoppers would answer",
        description=(
            "Stand in for the real senders: consume the triggers topic (consumer group nudge-senders) and write to the engagements "
            "topic what the synthetic shop's shopper would do with each message (delivered or bounced, opened, clicked, dismissed, "
            "unsubscribed, complained), at rates that differ by persona and channel. Use the same --users and --seed as `nudge generate` "
            "so the personas match; each engagement goes out when its simulated delay has passed, event time running --time-scale times "
            "faster than the wall clock."
        ),
    )
    _broker_option(senders)
    senders.add_argument("--topic-prefix", help="prefix of every topic name")
    senders.add_argument("--users", type=int, default=DEFAULT_USERS, help="number of shoppers, as given to `nudge generate` (default %(default)s)")
    senders.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the traffic's random seed, as given to `nudge generate` (default %(default)s)")
    senders.add_argument(
        "--time-scale", type=float, default=DEFAULT_TIME_SCALE, help="event time runs this many times faster than the wall clock, as the generator's (default %(default)s)"
    )
    senders.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: run until Ctrl-C)")

    rules = commands.add_parser("rules", help="check a rules file without starting a worker")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_commands.add_parser("check", help="validate a rules file and warn about likely mistakes (exit 1 on a warning, 2 on an error)")
    check.add_argument("rules", nargs="?", metavar="FILE", help="the rules file (default: NUDGE_RULES, else the shipped one)")

    demo = commands.add_parser("demo", help="embedded broker + worker + traffic, printing triggers as they arrive")
    _traffic_options(demo, users=200, rate=40.0)
    demo.add_argument("--web-port", type=int, default=6066, help="worker's /metrics port (default %(default)s)")
    demo.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until Ctrl-C)")
    demo.add_argument(
        "--senders",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the sender simulator (nudge senders) too, answering triggers on engagements (default: on)",
    )
    return parser


def _broker_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help="kafka://HOST:PORT (default kafka://127.0.0.1:9092, the local broker)")


def _skew_option(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    parser.add_argument(
        "--max-future-skew",
        type=int,
        metavar="SECONDS",
        help=f"{prefix}dead-letter an event whose ts is further ahead of its Kafka timestamp (default 3600; 0: no limit)",
    )


def _topic_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic-prefix", help="prefix of every topic name")
    parser.add_argument("--partitions", type=int, help="partitions per topic (default 4)")


def _traffic_options(parser: argparse.ArgumentParser, *, users: int = DEFAULT_USERS, rate: float = 100.0) -> None:
    parser.add_argument("--users", type=int, default=users, help="number of shoppers (default %(default)s)")
    parser.add_argument("--rate", type=float, default=rate, metavar="EVENTS_PER_S", help="wall-clock rate (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed; the same seed gives the same traffic")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
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
        "max_future_skew_s": getattr(args, "max_future_skew", None),
        "store": getattr(args, "store", None),
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


def _recording_count(args: argparse.Namespace) -> int:
    """Messages ``generate --out`` writes: ``--count``, or ``--duration`` x ``--rate`` (of event
    time at ``--time-scale`` 1), never both, so neither is silently ignored."""
    if args.duration is not None and args.count is not None:
        raise SettingsError("--out takes --count, or --duration with --rate, not both")
    count = DEFAULT_RECORDING_COUNT if args.count is None else args.count
    if args.duration is not None:
        count = round(args.duration * args.rate)
    if count < 1:
        raise SettingsError(f"--out needs at least one message, got {count} (--count, or --duration x --rate)")
    return count


def _scrub(args: argparse.Namespace) -> int:
    from agents.scrub import scrub

    if Path(args.out).resolve() == Path(args.recording).resolve():
        raise SettingsError("--out must be another file: the recording is read twice")
    users = frozenset(user.strip() for user in args.users.split(",") if user.strip())
    report = scrub(Path(args.recording), Path(args.out), users=users)
    print(f"kept {report.kept} messages, removed {report.removed} of {len(report.removed_users)} erased users, into {args.out}", file=sys.stderr)
    return 0


def _tail(args: argparse.Namespace) -> int:
    from agents.tail import tail

    tail(settings_from(args), args.topic, from_beginning=args.from_beginning, max_messages=args.max_messages, duration_s=args.duration)
    return 0


def _rules(args: argparse.Namespace) -> int:
    """``nudge rules check``: the rules file's summary, then one line per warning. Exit 0 when
    clean, 1 with warnings (so a deploy pipeline can stop on them), 2 when it would not load."""
    from agents.rules import load_rules, warnings_for
    from streams.rules.checks import describe

    settings = settings_from(args)
    book = load_rules(settings)
    enabled = [rule.name for rule in book.enabled]
    models = f"models on ({book.models.propensity})" if book.models.enabled else "models off"
    print(f"{settings.rules or 'the shipped rules'}: {len(book.rules)} rules, {len(enabled)} enabled ({', '.join(enabled)}); {models}")
    for rule in book.enabled:
        print(f"  {describe(rule)}")
    warnings = warnings_for(book, settings)
    for warning in warnings:
        print(f"warning: {warning}")
    return 1 if warnings else 0


def _generate(args: argparse.Namespace) -> int:
    from agents.generate import run_generator, write_recording
    from agents.progress import progress_printer

    if not args.rate > 0:
        raise SettingsError(f"--rate must be positive, got {args.rate:g}")
    count = _recording_count(args)
    start_ms = _start_ms(args.start)
    planted = None
    if args.plant_effect:
        from agents.generate import planted_cart_effect
        from agents.rules import load_rules

        planted = planted_cart_effect(load_rules(settings_from(args)))
    if args.out:
        settings = settings_from(args)
        written = write_recording(
            Path(args.out),
            users=args.users,
            count=count,
            seed=args.seed,
            start_ms=int(time.time() * 1000) if start_ms is None else start_ms,
            mean_gap_ms=1000 * args.time_scale / args.rate,
            partitions=settings.partitions,
            bad_fraction=args.bad_fraction,
            planted=planted,
            journeys=args.plant_journeys,
            progress=progress_printer(label="generate", verb="written", closing=False),
        )
        print(f"wrote {written} messages to {args.out}", file=sys.stderr)
        return 0

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
            planted=planted,
            journeys=args.plant_journeys,
            start_ms=start_ms,
            stop=stop,
        )
    except KeyboardInterrupt:
        stop.set()
        return 130
    print(f"sent {sent} events", file=sys.stderr)
    return 0


def _start_ms(text: str | None) -> int | None:
    from schemas.timestamps import BadTimestamp, parse_rfc3339

    if text is None:
        return None
    try:
        return parse_rfc3339(text)[0]
    except BadTimestamp as exc:
        raise SettingsError(f"--start must be an RFC 3339 time with an offset: {exc}") from None


def _record(args: argparse.Namespace) -> int:
    from agents.admin import check_broker
    from agents.record import record
    from agents.progress import progress_printer

    settings = settings_from(args)
    topics = [topic.strip() for topic in args.topics.split(",") if topic.strip()]
    check_broker(settings)
    stop = threading.Event()
    # Ctrl-C ends a recording as its duration would: what was recorded (and scrubbed) is kept.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    report = record(
        settings,
        topics=topics,
        out=Path(args.out),
        from_beginning=args.from_beginning,
        duration_s=args.duration,
        max_messages=args.max_messages,
        stop=stop,
        progress=progress_printer(label="record", verb="recorded", closing=False),
        scrub=args.scrub,
    )
    print(f"recorded {report.written} messages to {args.out}", file=sys.stderr)
    if report.scrubbed is not None:
        print(f"left out {report.scrubbed.removed} messages of {len(report.scrubbed.removed_users)} erased users", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from agents.progress import progress_printer
    from agents.replay import replay_offline, replay_to_broker

    path = Path(args.file)
    if args.offline:
        from agents.app import profile_config
        from agents.rules import load_rules

        if not args.out:
            raise SettingsError("an offline replay needs --out FILE for its outputs")
        settings = settings_from(args)
        report = replay_offline(
            path,
            Path(args.out),
            book=load_rules(settings),
            partitions=settings.partitions,
            profile_config=profile_config(settings),
            max_future_skew_ms=settings.max_future_skew_s * 1000,
            progress=progress_printer(verb="replayed", closing=False),
            scrub=args.scrub,
        )
        rate = report.messages / report.elapsed_s if report.elapsed_s > 0 else 0.0
        outputs = ", ".join(f"{count} {topic}" for topic, count in sorted(report.outputs.items())) or "no outputs"
        print(f"replayed {report.messages} messages offline in {report.elapsed_s:.2f} s ({rate:,.0f}/s): {outputs}", file=sys.stderr)
    else:
        from agents.admin import check_broker, ensure_topics
        from agents.topics import all_topics

        settings = settings_from(args)
        check_broker(settings)
        ensure_topics(settings, all_topics(settings))  # a broker that auto-creates topics would get them wrong
        report = replay_to_broker(path, settings, speed=None if args.max_speed else args.speed, progress=progress_printer(), scrub=args.scrub)
        print(f"replayed {report.messages} messages into {settings.broker}", file=sys.stderr)
    if report.scrubbed is not None:
        print(f"left out {report.scrubbed.removed} messages of {len(report.scrubbed.removed_users)} erased users", file=sys.stderr)
    _report_bad_lines(report.bad_lines)
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from agents.app import profile_config
    from agents.backtest import rule_table, run_backtest, write_changes
    from agents.backtest_report import render
    from agents.progress import progress_printer
    from agents.rules import load_rules

    settings = settings_from(args)
    path = Path(args.file)
    if not path.is_file():
        raise SettingsError(f"no recording at {path}")
    old, new = load_rules(settings), load_rules(replace(settings, rules=args.against))
    report = run_backtest(
        path,
        old=old,
        new=new,
        partitions=settings.partitions,
        profile_config=profile_config(settings),
        max_future_skew_ms=settings.max_future_skew_s * 1000,
        progress=progress_printer(label="backtest", verb="read", closing=False),
    )
    write_changes(report, Path(args.diff))
    page = render(report, recording=path.name, old_name=settings.rules or "the shipped rules", new_name=args.against)
    try:
        Path(args.html).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot write {args.html}: {exc.strerror or exc}") from None
    print(rule_table(report))
    rate = report.messages / report.elapsed_s if report.elapsed_s > 0 else 0.0
    print(f"backtested {report.messages} messages under both rule files in {report.elapsed_s:.2f} s ({rate:,.0f}/s); "
          f"changes in {args.diff}, report in {args.html}", file=sys.stderr)  # fmt: skip
    _report_bad_lines(report.bad_lines)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from agents.app import profile_config
    from agents.explain import explain
    from agents.rules import load_rules

    settings = settings_from(args)
    path = Path(args.recording)
    if not path.is_file():
        raise SettingsError(f"no recording at {path}")
    lines = explain(
        path,
        args.user_id,
        book=load_rules(settings),
        partitions=settings.partitions,
        profile_config=profile_config(settings),
        max_future_skew_ms=settings.max_future_skew_s * 1000,
    )
    print("\n".join(lines))
    return 0


def _report_bad_lines(bad_lines: list) -> None:
    from agents.replay import REPORTED_BAD_LINES

    for bad in bad_lines[:REPORTED_BAD_LINES]:
        print(f"skipped line {bad.line_no}: {bad.reason}", file=sys.stderr)
    if len(bad_lines) > REPORTED_BAD_LINES:
        print(f"skipped {len(bad_lines) - REPORTED_BAD_LINES} more bad lines", file=sys.stderr)
    if bad_lines:
        print(f"{len(bad_lines)} bad lines in all", file=sys.stderr)


def _uplift(args: argparse.Namespace) -> int:
    from agents.uplift_report import uplift_json, uplift_table

    if args.recording:
        import tempfile

        from agents.app import profile_config
        from agents.replay import replay_offline
        from agents.rules import load_rules

        settings = settings_from(args)
        with tempfile.TemporaryDirectory(prefix="nudge-uplift-") as folder:
            report = replay_offline(
                Path(args.recording),
                Path(folder) / "outputs.jsonl",
                book=load_rules(settings),
                partitions=settings.partitions,
                profile_config=profile_config(settings),
                max_future_skew_ms=settings.max_future_skew_s * 1000,
            )
        _report_bad_lines(report.bad_lines)
        answer = uplift_json(report.outcomes, partitions=list(range(settings.partitions)), of=settings.partitions)
    else:
        answer = _get_json(args.url.rstrip("/") + "/uplift", token=settings_from(args).http_token)
    print(json.dumps(answer, indent=2) if args.json else uplift_table(answer))
    return 0


def _get_json(url: str, *, token: Secret) -> Any:
    """A worker's JSON answer, or one clear line (SettingsError) when it cannot be had. The
    worker's bearer token (NUDGE_HTTP_TOKEN) goes with the request when one is set."""
    import urllib.error
    import urllib.request

    from agents.http_auth import bearer

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=bearer(token)), timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise SettingsError(f"{url} asks for a token: set NUDGE_HTTP_TOKEN to the worker's") from None
        raise SettingsError(f"{url} answered {exc.code} {exc.reason}: is it a Nudge worker?") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SettingsError(f"cannot reach a worker at {url}: {reason}") from None
    except ValueError:
        raise SettingsError(f"{url} did not answer JSON: is it a Nudge worker?") from None


def _forget(args: argparse.Namespace) -> int:
    from agents.admin import check_broker
    from agents.forget import forget

    settings = settings_from(args)
    check_broker(settings)
    answer = forget(settings, args.user_id, wait_s=args.timeout if args.wait else None)
    if not args.wait:
        print(f"erasure of user {args.user_id!r} requested at {answer['ts']} on {settings.topic('erasures')} (--wait confirms it)")
    elif answer["found"]:
        print(f"user {args.user_id!r} erased at {answer['erased_at']} (event time of their partition)")
    else:
        print(f"user {args.user_id!r}: nothing held about them; the erasure is confirmed")
    return 0


def _senders(args: argparse.Namespace) -> int:
    from agents.admin import check_broker, ensure_topics
    from agents.senders import run_senders
    from agents.topics import all_topics

    settings = settings_from(args)
    check_broker(settings)
    ensure_topics(settings, all_topics(settings))  # a broker that auto-creates topics would get them wrong
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    report = run_senders(settings, users=args.users, seed=args.seed, time_scale=args.time_scale, duration_s=args.duration, stop=stop)
    print(f"nudge senders: {report.summary()}", file=sys.stderr)
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


_COMMANDS = {
    "broker": _broker,
    "worker": _worker,
    "generate": _generate,
    "record": _record,
    "replay": _replay,
    "backtest": _backtest,
    "explain": _explain,
    "forget": _forget,
    "uplift": _uplift,
    "rules": _rules,
    "tail": _tail,
    "scrub": _scrub,
    "senders": _senders,
    "demo": _demo,
}

if __name__ == "__main__":
    sys.exit(main())
