"""The compiled core (mypyc, see setup.py) must answer exactly as its pure-Python source does.

Where the installed core is compiled (a C compiler was at hand), the replay test compares the
two builds byte for byte; where it is not, both sides run the source and the test holds the
replay to being deterministic across processes. ``make test`` also runs the unit tests and the
doctests a second time on the source alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson

from agents.generate import write_recording
from agents.replay import replay_offline
from schemas.compiled import BUILD, COMPILED, PURE, PURE_PYTHON_ENV, compiled_modules, why_not_compiled
from streams.config import ProfileConfig
from streams.rules.loading import default_rulebook

ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000
_PURE_REPLAY = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from agents.replay import replay_offline
    from schemas.compiled import BUILD
    from streams.config import ProfileConfig
    from streams.rules.loading import default_rulebook
    import streams.partition
    replay_offline(Path(sys.argv[1]), Path(sys.argv[2]), book=default_rulebook(), partitions=4, profile_config=ProfileConfig())
    print(BUILD)
    print(streams.partition.__file__)
    """
)


def _pure_python(*args: str) -> str:
    env = {**os.environ, PURE_PYTHON_ENV: "1"}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_the_installed_core_and_its_source_replay_a_month_of_a_shop_to_the_same_bytes(tmp_path):
    recording = tmp_path / "shop.jsonl"
    # 40 days of 300 users, 2 % of it malformed: sessions, carts, purchases, daily sweeps, win-backs.
    write_recording(recording, users=300, count=30_000, seed=11, start_ms=1_795_000_000_000, mean_gap_ms=40 * DAY_MS / 30_000, partitions=4, bad_fraction=0.02)
    installed, source = tmp_path / "installed.jsonl", tmp_path / "source.jsonl"
    replay_offline(recording, installed, book=default_rulebook(), partitions=4, profile_config=ProfileConfig())
    build, module = _pure_python("-c", _PURE_REPLAY, str(recording), str(source)).splitlines()
    assert build == PURE and module.endswith("streams/partition.py")
    produced = installed.read_bytes()
    topics = {orjson.loads(line)["topic"] for line in produced.splitlines()}
    rules = {orjson.loads(line)["value"]["rule"] for line in produced.splitlines() if b'"topic":"triggers"' in line}
    assert topics == {"triggers", "suppressions", "conversions", "dead-letters", "erasures-done"}
    assert rules == {"abandoned_cart", "abandoned_cart-follow-up", "abandoned_interest", "win_back", "winter_sale"}
    assert produced == source.read_bytes()


def test_the_installed_core_runs_compiled_wherever_it_was_compiled():
    import streams.partition

    asked_for_source = os.environ.get(PURE_PYTHON_ENV) == "1"
    assert BUILD == (COMPILED if compiled_modules() and not asked_for_source else PURE)  # nothing stale after `make install`
    assert streams.partition.__file__.endswith(".py") == (BUILD == PURE)


def _module(tmp_path: Path, name: str, *, source_age_s: float) -> tuple[Path, Path]:
    source, extension = tmp_path / f"{name}.py", tmp_path / f"{name}.cpython-311-x86_64-linux-gnu.so"
    source.write_text("x = 1\n")
    extension.write_bytes(b"\x7fELF")
    now = extension.stat().st_mtime
    os.utime(source, (now - source_age_s, now - source_age_s))
    return source, extension


def test_a_compiled_module_older_than_its_source_sends_the_whole_core_back_to_source(tmp_path):
    fresh = _module(tmp_path, "profile", source_age_s=60)
    edited = _module(tmp_path, "timers", source_age_s=-60)  # saved after the compile
    installed = _module(tmp_path, "process", source_age_s=-1)  # a wheel's files, written moments apart
    assert why_not_compiled(dict([fresh, installed]), shared_library_found=True) is None
    reason = why_not_compiled(dict([fresh, edited]), shared_library_found=True)
    assert reason is not None and "timers.py changed after the core was compiled" in reason


def test_compiled_modules_without_their_shared_library_or_source_do_not_run(tmp_path):
    source, extension = _module(tmp_path, "profile", source_age_s=60)
    assert "nudge_core__mypyc" in (why_not_compiled({source: extension}, shared_library_found=False) or "")
    source.unlink()
    assert "has no source beside it" in (why_not_compiled({source: extension}, shared_library_found=True) or "")
    assert why_not_compiled({}, shared_library_found=False) is None  # nothing compiled: nothing to refuse
