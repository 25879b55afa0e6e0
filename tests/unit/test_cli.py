"""The ``nudge`` command as a user runs it: a child process, its exit code and what it prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLOSED_PORT_BROKER = "kafka://127.0.0.1:1"  # port 1 (tcpmux) is never listening here


def nudge(*args: str, env: dict[str, str] | None = None, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("NUDGE_")}
    full_env.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *, mentions: str) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nudge worker:"), lines[0]
    assert mentions in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_worker_with_unreachable_broker_exits_2_with_one_line():
    started = time.monotonic()
    result = nudge("worker", "--broker", CLOSED_PORT_BROKER, timeout_s=15)
    assert time.monotonic() - started < 15
    assert_one_line_error(result, mentions="127.0.0.1:1")


def test_non_numeric_setting_in_the_environment_exits_2_with_one_line():
    result = nudge("worker", "--broker", CLOSED_PORT_BROKER, env={"NUDGE_PARTITIONS": "abc"}, timeout_s=15)
    assert_one_line_error(result, mentions="NUDGE_PARTITIONS")


def test_broker_that_is_not_a_url_exits_2_with_one_line():
    result = nudge("worker", "--broker", "not-a-url", timeout_s=15)
    assert_one_line_error(result, mentions="not-a-url")


def test_a_bad_rules_file_exits_2_naming_the_key_and_line_before_any_broker_is_tried(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n    params: {delay: soon}\n")
    result = nudge("worker", "--rules", str(rules), "--broker", CLOSED_PORT_BROKER, timeout_s=15)
    assert_one_line_error(result, mentions="line 5")
    assert "rules[0].params.delay" in result.stderr and "127.0.0.1:1" not in result.stderr


def test_a_missing_rules_file_exits_2_with_one_line(tmp_path: Path):
    result = nudge("worker", "--rules", str(tmp_path / "nowhere.yaml"), "--broker", CLOSED_PORT_BROKER, timeout_s=15)
    assert_one_line_error(result, mentions="nowhere.yaml")


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("worker", ["--broker", "--web-port", "--rules"]),
        ("forget", ["--broker"]),
        ("generate", ["--users", "--rate", "--seed", "--duration"]),
        ("broker", ["--port"]),
        ("demo", ["--time-scale"]),
        ("senders", ["--broker", "--users", "--seed", "--time-scale", "--duration"]),
    ],
)
def test_help_of_every_subcommand_names_its_key_options(command, options):
    result = nudge(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: nudge {command}")
    for option in options:
        assert option in result.stdout


def test_senders_default_to_the_generator_s_shop_so_the_personas_match():
    from agents.cli import build_parser

    parser = build_parser()
    generate, senders = parser.parse_args(["generate"]), parser.parse_args(["senders"])
    assert (senders.users, senders.seed, senders.time_scale) == (generate.users, generate.seed, generate.time_scale)


def test_top_level_help_lists_every_subcommand():
    result = nudge("--help")
    assert result.returncode == 0, result.stderr
    for command in ("broker", "worker", "generate", "forget", "demo"):
        assert command in result.stdout
