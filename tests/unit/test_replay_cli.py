"""``nudge generate --out`` and ``nudge replay --offline`` as a user runs them: child processes."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

import orjson
import pytest

from test_cli import nudge

START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z
SUMMARY = re.compile(r"^replayed (\d+) messages offline in [\d.]+ s \([\d,]+/s\): (.+)$")


def assert_one_line_error(result, *, mentions: str) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nudge replay:") and mentions in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "shop.jsonl.gz"
    result = nudge(
        "generate", "--out", str(path), "--count", "2000", "--users", "50", "--seed", "3",
        "--start", "2026-11-25T09:00:00Z", "--bad-fraction", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"wrote 2000 messages to {path}" in result.stderr
    with gzip.open(path, "rt", encoding="utf-8") as source:
        lines = source.read().splitlines()
    assert len(lines) == 2000
    first_ms = orjson.loads(lines[0])["ts"]
    assert START_MS <= first_ms < START_MS + 60_000  # event time begins at --start
    return path


def counts_in(summary: str) -> dict[str, int]:
    return {topic: int(count) for count, topic in (part.split(" ") for part in summary.split(", "))}


def test_an_offline_replay_of_a_generated_recording_writes_its_outputs_and_a_summary(recording: Path, tmp_path: Path):
    out = tmp_path / "out.jsonl"
    result = nudge("replay", str(recording), "--offline", "--out", str(out))
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    match = SUMMARY.match(line)
    assert match, line
    assert match.group(1) == "2000"
    written = Counter(orjson.loads(output)["topic"] for output in out.read_text().splitlines())
    assert written["triggers"] > 0
    assert counts_in(match.group(2)) == dict(written)


def test_bad_lines_are_skipped_and_named_on_stderr(recording: Path, tmp_path: Path):
    with gzip.open(recording, "rt", encoding="utf-8") as source:
        lines = source.read().splitlines()
    lines.insert(2, "{oops")  # line 3
    lines.insert(9, '{"key": "u0001", "value": {}}')  # line 10
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = nudge("replay", str(path), "--offline", "--out", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr
    stderr = result.stderr.splitlines()
    assert SUMMARY.match(stderr[0]) and SUMMARY.match(stderr[0]).group(1) == "2000"
    assert stderr[1].startswith("skipped line 3: not JSON")
    assert stderr[2] == "skipped line 10: no 'topic'"
    assert stderr[3:] == ["2 bad lines in all"]


def test_offline_without_out_exits_2_with_one_line(recording: Path):
    result = nudge("replay", str(recording), "--offline")
    assert_one_line_error(result, mentions="--out")


def test_a_missing_recording_exits_2_with_one_line(tmp_path: Path):
    out = tmp_path / "out.jsonl"
    result = nudge("replay", str(tmp_path / "nowhere.jsonl"), "--offline", "--out", str(out))
    assert_one_line_error(result, mentions="nowhere.jsonl")
    assert not out.exists()


def test_generate_out_writes_duration_times_rate_messages(tmp_path: Path):
    path = tmp_path / "timed.jsonl"
    result = nudge("generate", "--out", str(path), "--duration", "30", "--rate", "20", "--users", "20", "--start", "2026-11-25T09:00:00Z")
    assert result.returncode == 0, result.stderr
    assert len(path.read_text().splitlines()) == 600


@pytest.mark.parametrize(
    ("options", "mentions"),
    [
        (["--rate", "0"], "--rate must be positive, got 0"),
        (["--rate", "-5"], "--rate must be positive"),
        (["--count", "100", "--duration", "10"], "not both"),
        (["--count", "0"], "at least one message"),
    ],
)
def test_generate_out_refuses_what_it_cannot_honour_in_one_line(tmp_path: Path, options: list[str], mentions: str):
    path = tmp_path / "never.jsonl"
    result = nudge("generate", "--out", str(path), *options)
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("nudge generate:") and mentions in lines[0], lines[0]
    assert "Traceback" not in result.stderr and not path.exists()
