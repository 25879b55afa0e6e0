"""Offline replay of generated recordings, in a child process per size: events/s and peak memory.

Each size runs ``nudge replay FILE --offline`` on a recording of that many events from the
same 10,000 users, with the shipped rules. The child reports its own peak resident memory from
the kernel (``VmHWM``), so it counts everything the replay held. Not ``wait4``'s: Linux carries
a process's peak over ``exec``, so that would report the benchmark's own size whenever it is the
larger. Memory must follow the users, not the events: a recording four times longer must not
need four times the memory.

The first recording is replayed again with the online models off (the shipped rules plus
``models: {enabled: false}``): the difference is what learning and predicting cost per event,
in the same run. Every snapshot is learned from within the replay: by a purchase, or by its
horizon passing, at the latest in the end-of-input flush.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agents.generate import write_recording
from bench.workload import MEAN_GAP_MS, SEED, START_MS, USERS

DEFAULT_RULES = Path(__file__).resolve().parents[1] / "streams" / "rules" / "default.yaml"

PARTITIONS = 4


@dataclass(frozen=True, slots=True)
class ReplayRun:
    events: int
    seconds: float  # the replay as it reports itself: reading, the core, writing outputs
    peak_rss_mb: float
    outputs: int  # lines written: triggers, suppressions, conversions, dead letters
    models: bool = True  # the online models on (the shipped rules) or off


def run_replays(sizes: list[int]) -> list[ReplayRun]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="nudge-bench-replay-") as folder:
        for events in sizes:
            recording = Path(folder) / f"shop-{events}.jsonl"
            write_recording(
                recording, users=USERS, count=events, seed=SEED, start_ms=START_MS, mean_gap_ms=MEAN_GAP_MS, partitions=PARTITIONS
            )
            runs.append(_replay(recording, Path(folder) / f"out-{events}.jsonl", events))
            if events == sizes[0]:
                rules = Path(folder) / "no-models.yaml"
                rules.write_text(DEFAULT_RULES.read_text(encoding="utf-8") + "\nmodels:\n  enabled: false\n", encoding="utf-8")
                runs.append(_replay(recording, Path(folder) / f"out-{events}-off.jsonl", events, rules=rules))
    return runs


# `nudge replay`, then the child's own peak resident set, in kB, on stderr.
_CHILD = """
import sys
from agents.cli import main
code = main(sys.argv[1:])
print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")), file=sys.stderr)
sys.exit(code)
"""


def _replay(recording: Path, out: Path, events: int, *, rules: Path | None = None) -> ReplayRun:
    env = {**os.environ, "NUDGE_PARTITIONS": str(PARTITIONS)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, "replay", str(recording), "--offline", "--out", str(out), *(["--rules", str(rules)] if rules else [])],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    errors = child.stderr.decode(errors="replace")
    if child.returncode != 0:
        raise RuntimeError(f"the replay failed: {errors}")
    reported = re.search(r"offline in ([0-9.]+) s", errors)
    peak = re.search(r"VmHWM:\s+([0-9]+) kB", errors)
    if reported is None or peak is None:
        raise RuntimeError(f"no summary from the replay: {errors}")
    with open(out, "rb") as lines:
        outputs = sum(1 for _ in lines)
    return ReplayRun(
        events=events, seconds=float(reported.group(1)), peak_rss_mb=int(peak.group(1)) / 1024, outputs=outputs, models=rules is None
    )
