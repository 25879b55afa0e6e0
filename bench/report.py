"""Plain-text tables of the results, with units and measurement methods spelled out, so a number
copied into a review or a ticket still says what it measured."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Sequence

from bench.core import CoreResult
from bench.end_to_end import EndToEndResult
from bench.loop import LoopRun
from bench.scale_out import ScaleOutResult
from bench.peers import PARTITIONS, PeersResult
from bench.reading import ReaderRun
from bench.replay import ReplayRun
from bench.state import PARTITIONS as STATE_PARTITIONS
from bench.state import TARGET_BYTES_PER_USER, StateResult
from bench.stats import HistogramQuantile
from bench.worker import STOP_GRACE_S
from bench.workload import USERS, event_time_span_h
from schemas.compiled import BUILD
from schemas.events import InputTopic


def machine() -> str:
    """Benchmarks mean little without the machine (core count above all, on a 2-core box) and the
    build of the core: compiled, it runs the offline replay about twice as fast."""
    usable = len(os.sched_getaffinity(0))
    return (
        f"Machine: {os.cpu_count()} CPUs ({usable} usable), {_cpu_model()}\n"
        f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}\n"
        f"Core: {BUILD}; NUDGE_PURE_PYTHON=1 runs its source"
    )


def core_table(result: CoreResult) -> str:
    header = (
        f"Core, in-process, one core: {result.events:,} events from {USERS:,} users, "
        f"about {event_time_span_h(result.events):.1f} h of event time, {result.triggers:,} triggers emitted"
    )
    rows = [["stage", "events/s", "p50 µs", "p99 µs", "p99.9 µs", "latency measured as"]]
    rows += [
        [
            stage.name,
            f"{stage.events_per_s:,.0f}",
            f"{stage.p50_us:.1f}",
            f"{stage.p99_us:.1f}",
            f"{stage.p999_us:.1f}",
            stage.latency_method,
        ]
        for stage in result.stages
    ]
    notes = [
        "Each stage includes the ones above it, and an indented row is the row above it with one thing left out; events/s comes from a pass with no per-event clock reads.",
        "(c) is the worker's Faust-free step: decode, timestamp sync, engine, metrics, trigger JSON.",
        "(d) adds encoding each changed user for the table changelog, as the worker does per batch.",
    ]
    return "\n".join([header, _table(rows, left_columns={0, 5}), *notes])


def end_to_end_table(result: EndToEndResult) -> str:
    catch_up, live = result.catch_up, result.live
    after_first = catch_up.events - catch_up.first_count
    header = (
        f"End to end: embedded broker, one `nudge worker` process, 4 partitions, "
        f"{catch_up.events:,} backlog events from {USERS:,} users"
    )
    rows = [
        ["phase", "events/s", "seconds", "notes"],
        ["pre-produce the backlog (kafka-python)", _rate(catch_up.events, catch_up.produce_s), _s(catch_up.produce_s), "flush included"],
        ["worker spawn until /metrics answers", "", _s(catch_up.spawn_to_metrics_s), "Python and Faust start-up"],
        ["/metrics until first event counted", "", _s(catch_up.metrics_to_first_s), "mostly the consumer group join"],
        [
            "catch-up from first event to all",
            _rate(after_first, catch_up.first_to_done_s) if after_first else "",
            _s(catch_up.first_to_done_s),
            (
                f"worker {catch_up.worker_cpu:.2f} cores "
                f"({catch_up.worker_cpu * catch_up.first_to_done_s / after_first * 1e6:,.0f} µs CPU per event), "
                f"broker {catch_up.broker_cpu:.2f} cores"
            )
            if after_first
            # A fetch is taken whole: a small backlog can be counted at the first look.
            else "every event was counted at the first look: too small a backlog to time",
        ],
        [
            "catch-up from /metrics answering",
            _rate(catch_up.events, catch_up.metrics_to_done_s),
            _s(catch_up.metrics_to_done_s),
            "join included",
        ],
        [
            f"live, asked {live.rate:,.0f}/s",
            _rate(live.sent, live.send_s),
            _s(live.send_s),
            f"worker {live.worker_cpu:.2f} cores, broker {live.broker_cpu:.2f} cores",
        ],
    ]
    latency = (
        f"Live processing latency ({live.sent:,} events, Kafka timestamp until the batch's outputs "
        "were acknowledged):\n"
        f"  p50 {_quantile(live.p50)}, p99 {_quantile(live.p99)}, mean {live.mean_s * 1000:.1f} ms (exact)\n"
        "  Quantiles at histogram-bucket resolution: nudge_processing_latency_seconds bucket deltas of\n"
        "  the live phase, interpolated inside the bucket as Prometheus' histogram_quantile does."
    )
    return "\n".join([header, _table(rows, left_columns={0, 3}), latency])


def replay_table(runs: list[ReplayRun]) -> str:
    rows = [["recording", "events/s", "seconds", "peak memory", "outputs"]]
    for run in runs:
        name = f"{run.events:,} events" + ("" if run.models else ", models off")
        rows.append([name, _rate(run.events, run.seconds), _s(run.seconds), f"{run.peak_rss_mb:,.0f} MB", f"{run.outputs:,}"])
    notes = [
        "events/s covers reading the recording, the core and writing every output; memory is the",
        "child's peak resident set: it follows the users, not the length of the recording.",
    ]
    pairs = [(on, off) for off in runs if not off.models for on in runs if on.models and on.events == off.events]
    for on, off in pairs:
        cost_us = (on.seconds - off.seconds) / on.events * 1e6
        notes.append(
            f"The online models (learn + predict) on {on.events:,} events: models on run at {off.seconds / on.seconds:.2f}x "
            f"the speed of models off, {cost_us:.1f} µs per event."
        )
    return (
        f"Offline replay (`nudge replay --offline`, shipped rules, one core): recordings from {USERS:,} users\n"
        + _table(rows, left_columns={0})
        + "\n"
        + "\n".join(notes)
    )


def loop_table(runs: list[LoopRun], *, users: int, events: int) -> str:
    """Open rates per seed and setting, and best over the best fixed channel of the same seed."""
    seeds = sorted({run.seed for run in runs})
    settings = list(dict.fromkeys(run.setting for run in runs))
    by = {(run.seed, run.setting): run.report for run in runs}
    rows = [["seed", *(f"{setting} opened" for setting in settings), "best / best fixed", "sent: best / best fixed"]]
    ratios = []
    for seed in seeds:
        fixed = max((by[seed, setting] for setting in settings if setting != "best"), key=lambda report: report.open_rate)
        best = by[seed, "best"]
        ratios.append(best.open_rate / fixed.open_rate)
        rows.append(
            [str(seed), *(f"{by[seed, setting].open_rate:.1%}" for setting in settings), f"{ratios[-1]:.2f}x", f"{best.triggers / fixed.triggers:.2f}x"]
        )
    clicked = [(by[seed, "best"].clicked_conversions, by[seed, "best"].answered["clicked"]) for seed in seeds]
    return (
        f"Closed loop (streams/loop.py): {users:,} shoppers, {events:,} events, each trigger answered by the simulated senders\n"
        + _table(rows, left_columns=set())
        + f"\n  channel: best opens {min(ratios):.2f}x to {max(ratios):.2f}x as often as the best fixed channel of the same seed."
        + "\n  'sent' counts messages: best also reaches those a fixed channel cannot (opted out, bounced)."
        + "\n  Clicked messages followed by a purchase in the attribution window, under best: "
        + ", ".join(f"{converted}/{clicks}" for converted, clicks in clicked)
        + "\n  (the synthetic shop does not buy because of a message: this is how much clickers buy anyway)."
    )


def scale_out_table(result: ScaleOutResult) -> str:
    """One worker against two on 8 partitions: the ratio carries over, the rates do not."""
    rows = [["workers", "events/s", "seconds", "events timed", "workers' cores"]]
    for run in (result.one, result.two):
        rows.append([str(run.workers), _rate(run.events, run.seconds), _s(run.seconds), f"{run.events:,}", f"{run.cores:.2f}"])
    ratio = result.two.events_per_s / result.one.events_per_s
    return (
        f"Scale-out: a backlog of {result.backlog:,} events in 8 partitions, read whole by one worker, then by two in one group\n"
        + _table(rows, left_columns=set())
        + f"\n  two workers / one: {ratio:.2f}x"
        + "\nTimed from the end of the rebalancing (the workers own every partition between them) until every"
        + "\nevent's outputs are acknowledged, counting the events taken in that span. This machine has 2 cores"
        + "\nand also runs the broker, so two workers cannot be twice as fast as one here."
    )


def peers_table(result: PeersResult) -> str:
    """Each reader's rate beside Nudge's ratio to it: on a machine whose speed drifts, only
    ratios between rates measured in the same run carry over to another run or host."""
    nudge = result.nudge
    peers = [run for run in result.runs if run is not nudge]
    header = (
        f"Catch-up beside peers: one embedded broker, one backlog of {result.events:,} events from {USERS:,} users "
        f"in {len(InputTopic)} topics x {PARTITIONS} partitions\n(produced in {_s(result.produce_s)} s), "
        "read whole by each reader in its own consumer group, one after the other"
    )
    rows = [["reader", "events/s", "Nudge / reader", "launch to 1st event s", "1st to last s", "events timed", "reader cores", "broker cores"]]
    for run in result.runs:
        rows.append(
            [
                run.name,
                _rate(run.timed_events, run.timed_s),
                "" if run is nudge else _ratio(nudge, run),
                _s(run.start_s),
                f"{run.timed_s:.2f}",
                f"{run.timed_events:,}",
                f"{run.reader_cores:.2f}",
                f"{run.broker_cores:.2f}",
            ]
        )
    ratios = ", ".join(f"{nudge.name} / {run.name} {_ratio(nudge, run)}" for run in peers)
    notes = [
        "Per event: kafka-python and confluent-kafka only count what they fetch (librdkafka fetches ahead in its own",
        "threads, so confluent-kafka's rate is mostly handing over what is already fetched); Quix Streams and the Faust",
        "agent parse the JSON, add one to the user's count in their state (Quix: RocksDB, one store across the five",
        "topics; Faust: a table in memory) and send one JSON output, Faust awaiting each send; Nudge decodes and",
        "validates each event, updates the user's profile, runs every rule and timer and writes its outputs and changelogs.",
        "events/s: events taken after a reader was first seen holding any, over the time from then to its last. The",
        f"{nudge.name}, seen through /metrics, counts a whole take at once before processing it: its clock runs from",
        "the last look that counted none until every event's outputs are acknowledged, so its rate is a lower bound.",
        "Launch to 1st event: start-up and the consumer group join (about 3 s on the embedded broker). Cores: CPU used",
        "over the timed span (1.00 = one core busy).",
        "Models off: the same worker with `models: {enabled: false}`, in its own group; Nudge / it is the online models'",
        "cost to a catch-up. The backlog covers little event time, so few labels resolve to 0 within it (after the 24 h",
        "horizon): the offline replay's models-off line counts every label learned.",
    ]
    return "\n".join([header, _table(rows, left_columns={0}), "  " + ratios, *notes])


def state_table(result: StateResult) -> str:
    """Bytes per user beside the team's budget, then a fresh worker's restore, phase by phase:
    the changelog is what a restore reads and the memory what a host must have."""
    restore = result.restore
    users = f"{result.users:,} users"
    header = (
        f"Worker state: {users}, {result.events:,} clicks (one visit of 2 to 4 each, over a day of event time), "
        f"produced in {_s(result.produce_s)} s;\none `nudge worker` ({result.store} store), embedded broker, {STATE_PARTITIONS} partitions, "
        f"caught up in {_s(result.catch_up_s)} s from its spawn (consumer group join included)"
    )
    sizes = [
        ["bytes per user", "average", "p99", f"average < {TARGET_BYTES_PER_USER:,}", "measured as"],
        [
            "users changelog record",
            f"{result.record_mean:,.0f}",
            f"{result.record_p99:,}",
            _meets(result.record_mean),
            "value of each user's last record, read back with kafka-python",
        ],
        [
            "worker memory after catch-up",
            f"{result.loaded_bytes_per_user:,.0f}",
            "",
            _meets(result.loaded_bytes_per_user),
            f"(RSS {_mib(result.loaded_rss_bytes)} - empty worker's {_mib(result.empty_rss_bytes)}) / {users}",
        ],
        [
            "worker memory after restore",
            f"{result.restored_bytes_per_user:,.0f}",
            "",
            _meets(result.restored_bytes_per_user),
            f"(RSS {_mib(restore.rss_bytes)} - empty worker's {_mib(result.empty_rss_bytes)}) / {users}",
        ],
    ]
    recovery_s = restore.spawn_to_serving_s - restore.spawn_to_assigned_s
    restarted = result.store == "rocksdb"
    second = "the same worker restarted on its own disk" if restarted else "fresh worker"
    read = (
        f"over the last {_s(recovery_s)} s: the changelog's tail since its last flush, and every user read from disk once"
        if restarted
        else f"{_rate(result.changelog_records, recovery_s)} changelog records/s over the last {_s(recovery_s)} s"
    )
    phases = [
        ["restore", "seconds", "notes"],
        [
            "SIGTERM to the caught-up worker until it exits",
            _s(result.stop_s),
            "" if result.stop_s < STOP_GRACE_S else f"SIGKILLed: still running {STOP_GRACE_S:g} s after SIGTERM",
        ],
        [f"{second}: spawn until /metrics answers", _s(restore.spawn_to_metrics_s), "Python and Faust start-up"],
        ["spawn until it is given every partition", _s(restore.spawn_to_assigned_s), "the consumer group join (Faust's /router/)"],
        [
            "spawn until restored and serving",
            _s(restore.spawn_to_serving_s),
            read,
        ],
    ]
    notes = [
        (
            f"The changelog held {result.changelog_records:,} records ({_mib(result.changelog_bytes)}) for {users}, and a "
            + ("restart on its own disk reads only what came after the offsets it wrote with its records." if restarted else "fresh restore reads them all: the embedded broker never compacts.")
        ),
        "Serving: the pipeline owns every partition (/segments/lifecycle:new/count) and its lifecycle segments in /metrics",
        "add up to every user; the table's recover callback that sets both runs right after Faust's \"Recovery complete\".",
        (
            f"Once serving: RSS {_mib(restore.rss_bytes)} (peak {_mib(restore.peak_rss_bytes)}), "
            f"{restore.events_retaken:,} input events taken again. Caught-up worker's peak RSS: {_mib(result.loaded_peak_rss_bytes)}."
        ),
        "The empty worker ran on the same broker and topics, before any event, and owned every partition when measured.",
    ]
    return "\n".join([header, _table(sizes, left_columns={0, 3, 4}), "", _table(phases, left_columns={0, 2}), *notes])


def _meets(bytes_per_user: float) -> str:
    return "yes" if bytes_per_user < TARGET_BYTES_PER_USER else "no"


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def _ratio(nudge: ReaderRun, peer: ReaderRun) -> str:
    return f"{nudge.events_per_s / peer.events_per_s:.2f}x"


def _quantile(quantile: HistogramQuantile) -> str:
    if quantile.upper == float("inf"):
        return f"> {quantile.lower * 1000:g} ms (beyond the largest bucket)"
    return f"≈ {quantile.estimate * 1000:.0f} ms (bucket {quantile.lower * 1000:g}–{quantile.upper * 1000:g} ms)"


def _rate(events: int, seconds: float) -> str:
    return f"{events / seconds:,.0f}"


def _s(seconds: float) -> str:
    return f"{seconds:.1f}"


def _table(rows: Sequence[Sequence[str]], *, left_columns: set[int]) -> str:
    """Aligned columns: text left, numbers right."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if column in left_columns else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() or "unknown CPU"
