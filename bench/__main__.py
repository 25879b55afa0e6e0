"""``python -m bench [--quick] [--only core|e2e|replay|loop|peers|scale|state] [--users N] [--store memory|rocksdb]``: print Nudge's benchmark tables.

Progress goes to stderr and the tables to stdout, so ``python -m bench > bench.txt`` keeps a
clean record.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Sequence

from agents.errors import NudgeError
from bench import report
from bench.core import run_core
from bench.end_to_end import run_end_to_end
from bench.loop import run_loops
from bench.peers import run_peers
from bench.reading import ReaderFailed
from bench.replay import run_replays
from bench.scale_out import run_scale_out
from bench.state import run_state
from bench.state_workload import MAX_USERS
from bench.worker import WorkerFailed
from bench.workload import wire_messages


LOOP_USERS = 400


@dataclass(frozen=True, slots=True)
class Sizes:
    core_events: int
    e2e_events: int
    live_rate: float  # events per wall second in the live phase
    live_s: float
    replay_events: tuple[int, ...]  # recordings replayed offline, shortest first
    peers_events: int  # the backlog every reader of the side-by-side catch-up reads
    scale_events: int  # the backlog one worker, then two, read on 8 partitions
    state_users: int  # users whose state one worker holds, then restores
    loop_events: int  # shop events of each closed-loop run (four settings per seed)
    loop_seeds: tuple[int, ...]


# Each default run stays well under two minutes on a 2-core machine, but the peers and the state,
# which take up to three: the one-event-at-a-time Faust agent needs over a minute for its 100,000
# events, and a fresh worker about half a minute to restore 100,000 users.
FULL = Sizes(
    core_events=200_000,
    e2e_events=50_000,
    live_rate=1000.0,
    live_s=10.0,
    replay_events=(250_000, 1_000_000),
    peers_events=100_000,
    scale_events=100_000,
    state_users=100_000,
    loop_events=150_000,
    loop_seeds=(1, 2, 3),
)
# For a smoke test: every code path, in a fraction of the time.
QUICK = Sizes(
    core_events=20_000,
    e2e_events=5_000,
    live_rate=500.0,
    live_s=3.0,
    replay_events=(5_000, 20_000),
    peers_events=10_000,
    scale_events=10_000,
    state_users=5_000,
    loop_events=15_000,
    loop_seeds=(1,),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Nudge's throughput and latency benchmarks.")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--only", choices=["core", "e2e", "replay", "loop", "peers", "scale", "state"], help="run one benchmark (default: all)")
    parser.add_argument(
        "--users", type=_users, help=f"users of the state benchmark (default {FULL.state_users:,}; 1000000 took about 25 minutes on 2 cores)"
    )
    parser.add_argument("--store", choices=["memory", "rocksdb"], default="memory", help="the state benchmark's store (default memory)")
    args = parser.parse_args(argv)
    if args.users is not None and args.only not in (None, "state"):
        parser.error("--users sizes the state benchmark only")
    if args.store != "memory" and args.only != "state":
        parser.error("--store applies to the state benchmark only: use it with --only state")
    sizes = QUICK if args.quick else FULL
    if args.users is not None:
        sizes = dataclasses.replace(sizes, state_users=args.users)
    # SIGTERM would end the interpreter without unwinding; as SystemExit it runs every cleanup,
    # so the worker and the broker never outlive the benchmark.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    print(report.machine(), end="\n\n", flush=True)
    try:
        if args.only in (None, "core"):
            _progress(f"core: serializing {sizes.core_events:,} events, then timing six stages")
            print(report.core_table(run_core(wire_messages(sizes.core_events))), end="\n\n", flush=True)
        if args.only in (None, "e2e"):
            _progress(
                f"end to end: broker, {sizes.e2e_events:,} backlog events, one worker, then "
                f"{sizes.live_rate:,.0f} events/s for {sizes.live_s:g} s"
            )
            result = run_end_to_end(events=sizes.e2e_events, live_rate=sizes.live_rate, live_s=sizes.live_s)
            print(report.end_to_end_table(result), end="\n\n", flush=True)
        if args.only in (None, "replay"):
            _progress(f"replay: generating recordings of {', '.join(f'{n:,}' for n in sizes.replay_events)} events, replaying each offline")
            print(report.replay_table(run_replays(list(sizes.replay_events))), end="\n\n", flush=True)
        if args.only in (None, "loop"):
            _progress(f"closed loop: {sizes.loop_events:,} shop events, four channel settings, seeds {sizes.loop_seeds}")
            loops = run_loops(seeds=sizes.loop_seeds, users=LOOP_USERS, events=sizes.loop_events)
            print(report.loop_table(loops, users=LOOP_USERS, events=sizes.loop_events), end="\n\n", flush=True)
        if args.only in (None, "peers"):
            _progress(f"peers: broker, {sizes.peers_events:,} backlog events, then five readers in turn")
            peers = run_peers(events=sizes.peers_events, progress=lambda reader: _progress(f"peers: {reader}"))
            print(report.peers_table(peers), end="\n\n", flush=True)
        if args.only in (None, "scale"):
            _progress(f"scale-out: broker, {sizes.scale_events:,} backlog events in 8 partitions, one worker, then two")
            scale = run_scale_out(events=sizes.scale_events, progress=lambda step: _progress(f"scale-out: {step}"))
            print(report.scale_out_table(scale), end="\n\n", flush=True)
        if args.only in (None, "state"):
            then = "restarting on its own RocksDB" if args.store == "rocksdb" else "then a fresh one restoring"
            _progress(f"state: broker, {sizes.state_users:,} users' clicks, one worker catching up, {then}")
            state = run_state(users=sizes.state_users, store=args.store, progress=lambda step: _progress(f"state: {step}"))
            print(report.state_table(state), flush=True)
    except KeyboardInterrupt:
        return 130
    except (NudgeError, WorkerFailed, ReaderFailed) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    return 0


def _progress(text: str) -> None:
    print(f"bench: {text} ...", file=sys.stderr, flush=True)


def _users(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_USERS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_USERS:,}, got {value:,}")
    return value


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
