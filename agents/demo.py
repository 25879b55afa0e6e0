"""``nudge demo``: the whole system on one machine, printing triggers as marketing would get them.

It starts the embedded broker on a free port, one worker and the traffic generator as child
processes, and follows the ``triggers`` topic. It also starts the sender simulator (``nudge
senders``; ``--no-senders`` leaves it out), which answers each trigger on ``engagements`` as the
generated shopper would, so the loop closes. The generator runs event time faster than the
wall clock (``--time-scale``, 60 by default), so the 30 minutes an abandoned cart waits pass in
30 seconds. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Mapping

from kafka import KafkaConsumer

from agents.admin import ensure_topics
from agents.broker import EmbeddedBroker, probe_bind
from agents.errors import NudgeError
from agents.lifetime import die_with_parent
from agents.rules import load_rules
from agents.security import kafka_client_security
from agents.settings import Settings
from agents.topic_reader import assign_whole
from agents.topics import TRIGGERS, all_topics
from streams.rules.kinds import kind_of_rules, summary
from streams.rules.spec import RuleKind

READY_TIMEOUT_S = 60.0
SUMMARY_EVERY_S = 10.0


def run_demo(args: argparse.Namespace) -> int:
    data_dir = Path(".nudge-data") / "demo"
    data_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        broker = EmbeddedBroker().start()
        stack.callback(broker.stop)
        settings = Settings.load(os.environ, broker=broker.url, web_port=args.web_port, data_dir=data_dir)
        ensure_topics(settings, all_topics(settings))
        _say(f"broker    {broker.url} (embedded, in memory)")

        env = {**os.environ, **settings.to_environ()}
        _check_port_free(settings.web_host, args.web_port)  # else the demo would read another process's /metrics
        worker = _spawn(["worker"], env, data_dir / "worker.log")
        stack.callback(_stop, worker)
        metrics_url = f"http://127.0.0.1:{args.web_port}/metrics"
        _wait_until_serving(metrics_url, worker, data_dir / "worker.log")
        _say(f"worker    ready; metrics at {metrics_url} (log: {data_dir / 'worker.log'})")
        base_url = f"http://127.0.0.1:{args.web_port}"
        _say(f"          profiles at {base_url}/profiles/u0001, segment sizes at {base_url}/segments/champions/count")
        _say(f"dashboard {base_url}/dashboard (live: events/s, triggers, suppressions, conversions, latency, lag)")

        traffic = [
            "generate", "--users", str(args.users), "--rate", str(args.rate), "--seed", str(args.seed),
            "--time-scale", str(args.time_scale), "--bad-fraction", str(args.bad_fraction),
        ]  # fmt: skip
        generator = _spawn(traffic, env, data_dir / "generator.log")
        stack.callback(_stop, generator)
        minutes = 30 / args.time_scale
        _say(f"traffic   {args.users} users at {args.rate:g} events/s, event time x{args.time_scale:g}: "
             f"first abandoned carts in about {minutes:.1f} min")  # fmt: skip
        watched = {"worker": (worker, data_dir / "worker.log"), "generator": (generator, data_dir / "generator.log")}
        if getattr(args, "senders", False):
            # The same shop as the generator's, so each trigger is answered by its shopper's persona.
            answering = ["senders", "--users", str(args.users), "--seed", str(args.seed), "--time-scale", str(args.time_scale)]
            senders = _spawn(answering, env, data_dir / "senders.log")
            stack.callback(_stop, senders)
            watched["senders"] = (senders, data_dir / "senders.log")
            _say(f"senders   simulated push, email and SMS senders answer triggers on engagements (log: {data_dir / 'senders.log'})")
        _say("triggers  (Ctrl-C stops the demo)")
        summaries = Summaries(f"{base_url}/dashboard/data", settings.http_token.reveal())
        try:
            _follow_triggers(settings, watched, deadline=None if args.duration is None else time.monotonic() + args.duration, summaries=summaries)
        finally:
            summaries.close()
    return 0


class Summaries:
    """Every ``SUMMARY_EVERY_S`` a line on what the worker did, from its /dashboard/data; one
    more when the demo ends. A worker that does not answer just skips a line."""

    def __init__(self, url: str, token: str) -> None:
        self._url, self._token = url, token
        self._last: tuple[float, float] | None = None  # (wall time, events) of the previous line
        self._next_s = time.monotonic() + SUMMARY_EVERY_S

    def maybe(self) -> None:
        if time.monotonic() >= self._next_s:
            self._next_s = time.monotonic() + SUMMARY_EVERY_S
            self._say("summary  ")

    def close(self) -> None:
        self._say("at the end")

    def _say(self, label: str) -> None:
        request = urllib.request.Request(self._url, headers={"Authorization": f"Bearer {self._token}"} if self._token else {})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                data = json.loads(response.read())
        except (OSError, ValueError):
            return
        events = sum(data["events"].values())
        rate = ""
        if self._last is not None and data["as_of"] > self._last[0]:
            rate = f" ({(events - self._last[1]) / (data['as_of'] - self._last[0]):,.1f}/s)"
        self._last = (data["as_of"], events)
        _say(summary_line(label, data, rate))


def summary_line(label: str, data: dict[str, Any], rate: str) -> str:
    """The demo's summary of a /dashboard/data snapshot in one line.

    >>> data = {"events": {"clicks": 1200.0, "purchases": 34.0}, "triggers": {"cart": 12.0, "interest": 30.0},
    ...         "suppressions": {"cart": {"holdout": 2.0}, "interest": {"holdout": 3.0, "frequency_cap": 1.0}},
    ...         "dead_letters": 7.0, "conversions": {"cart": {"treated": 4.0, "holdout": 1.0}}}
    >>> summary_line("summary  ", data, " (40.0/s)")
    'summary   1,234 events (40.0/s), 42 triggers, 6 suppressed (holdout 5, frequency_cap 1), 7 dead letters, 5 conversions (4 treated, 1 holdout)'
    """
    reasons: dict[str, float] = {}
    for by_reason in data["suppressions"].values():
        for reason, count in by_reason.items():
            reasons[reason] = reasons.get(reason, 0.0) + count
    treated = sum(groups.get("treated", 0.0) for groups in data["conversions"].values())
    held = sum(groups.get("holdout", 0.0) for groups in data["conversions"].values())
    why = ", ".join(f"{reason} {count:,.0f}" for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])))
    return (
        f"{label} {sum(data['events'].values()):,.0f} events{rate}, {sum(data['triggers'].values()):,.0f} triggers, "
        f"{sum(reasons.values()):,.0f} suppressed" + (f" ({why})" if why else "") + f", {data['dead_letters']:,.0f} dead letters, "
        f"{treated + held:,.0f} conversions ({treated:,.0f} treated, {held:,.0f} holdout)"
    )


def _follow_triggers(
    settings: Settings, watched: dict[str, tuple[subprocess.Popen[bytes], Path]], *, deadline: float | None, summaries: Summaries
) -> None:
    """Print triggers as they come, while watching the worker, the generator and the senders: if
    one of them stops, the demo stops and says why, in that process's own words."""
    kinds = kind_of_rules(load_rules(settings))
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, **kafka_client_security(settings))
    try:
        assign_whole(consumer, [settings.topic(TRIGGERS)], from_beginning=True, missing=lambda name: f"no topic {name!r}")
        while deadline is None or time.monotonic() < deadline:
            for name, (process, log_path) in watched.items():
                if process.poll() is not None:
                    raise NudgeError(_exited(name, process, log_path))
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    print(format_trigger(json.loads(record.value), kinds), flush=True)
            summaries.maybe()
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def format_trigger(trigger: dict[str, Any], kinds: Mapping[str, RuleKind]) -> str:
    """One line per trigger: event time, rule, user, channel, and what it is about as its rule's
    kind tells it (``kinds``: rule name -> kind), else its reason.

    >>> from streams.rules.kinds import kind_of_rules
    >>> from streams.rules.loading import default_rulebook
    >>> kinds = kind_of_rules(default_rulebook())
    >>> format_trigger({"ts": "2026-11-25T09:41:00.000Z", "rule": "abandoned_cart", "user_id": "u0042",
    ...                 "channel": "push", "payload": {"item_count": 3, "value": 129.9}, "reason": "..."}, kinds)
    '09:41:00  abandoned_cart      u0042     push   3 item(s), 129.90'
    >>> format_trigger({"ts": "2026-11-25T13:41:00.000Z", "rule": "abandoned_cart-follow-up", "user_id": "u0042",
    ...                 "channel": "email", "payload": {"follow_up_of": "t1", "first_channel": "push"}, "reason": "..."}, kinds)
    '13:41:00  abandoned_cart-follow-up  u0042     email  follows up an ignored push message'
    >>> format_trigger({"ts": "2026-11-25T09:52:00.000Z", "rule": "abandoned_interest", "user_id": "u0007",
    ...                 "channel": "push", "payload": {"category": "shoes", "products": ["shoes-01"]}, "reason": "..."}, kinds)
    '09:52:00  abandoned_interest  u0007     push   shoes: shoes-01'
    """
    said = summary(kinds.get(trigger["rule"]), trigger.get("payload", {}))
    summary_text = trigger.get("reason", "") if said is None else said
    clock = trigger["ts"][11:19]
    return f"{clock}  {trigger['rule']:<18}  {trigger['user_id']:<8}  {trigger['channel']:<5}  {summary_text}"


def _spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agents.cli", *command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops children in order
            preexec_fn=die_with_parent,  # and a SIGKILLed demo takes them with it (agents/lifetime.py)
        )


def _wait_until_serving(url: str, worker: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise NudgeError(_exited("worker", worker, log_path))
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise NudgeError(f"the worker did not serve {url} within {READY_TIMEOUT_S:g} s; see {log_path}")


def _exited(name: str, process: subprocess.Popen[bytes], log_path: Path) -> str:
    """A child's own last word (its one-line error, say, an invalid rules line), not just its code."""
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "(no output)"
    return f"the {name} exited with {process.returncode}: {last} (log: {log_path})"


def _check_port_free(host: str, port: int) -> None:
    try:
        probe_bind(host, port)
    except OSError:
        raise NudgeError(f"web port {port} on {host} is taken by another process: choose another with --web-port") from None


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
