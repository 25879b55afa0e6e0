"""``nudge demo`` end to end: broker, worker and traffic as child processes, triggers printed,
and nothing left running once it has finished."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from agents.broker import free_port
from agents.demo import format_trigger
from streams.rules.kinds import kind_of_rules
from streams.rules.loading import default_rulebook

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_S = 120.0


KINDS = kind_of_rules(default_rulebook())

def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, args) of every process on the machine."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=True).stdout
    table: dict[int, tuple[int, str]] = {}
    for line in out.splitlines():
        pid, ppid, *args = line.split(None, 2)
        table[int(pid)] = (int(ppid), args[0] if args else "")
    return table


def descendants(root: int, table: dict[int, tuple[int, str]]) -> dict[int, str]:
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, args) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = args
                frontier.append(pid)
    return found


def is_nudge_process(args: str) -> bool:
    return "tansu" in args or any(f"agents.cli {command}" in args for command in ("worker", "generate", "senders"))


def test_demo_prints_triggers_and_leaves_nothing_running(tmp_path: Path):
    web_port = free_port()
    before = {pid for pid, (_, args) in process_table().items() if is_nudge_process(args)}
    stdout_path, stderr_path = tmp_path / "demo.out", tmp_path / "demo.err"
    command = [
        sys.executable, "-m", "agents.cli", "demo", "--duration", "45", "--time-scale", "240",
        "--rate", "60", "--users", "100", "--web-port", str(web_port),
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUDGE_")}
    env["PYTHONPATH"] = str(REPO)
    children: dict[int, str] = {}  # every process the demo started, seen while it ran
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        demo = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        while demo.poll() is None and time.monotonic() < deadline:
            for pid, name in descendants(demo.pid, process_table()).items():
                children.setdefault(pid, name)  # keep the name a child had before it exited
            time.sleep(0.5)
        assert demo.poll() is not None, f"demo still running after {DEMO_TIMEOUT_S} s"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
            for pid in children:  # only what this demo started
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass

    stdout, stderr = stdout_path.read_text(), stderr_path.read_text()
    assert demo.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"http://127.0.0.1:{web_port}/metrics" in stderr
    assert f"http://127.0.0.1:{web_port}/profiles/u0001" in stderr
    assert f"http://127.0.0.1:{web_port}/dashboard" in stderr
    # A summary every 10 s of the 45, and one at the end, each with more events than the one before.
    summaries = re.findall(r"^(?:summary  |at the end) ([\d,]+) events.*, (\d+) triggers, (\d+) suppressed.*, (\d+) dead letters, (\d+) conversions", stderr, re.M)
    assert len(summaries) >= 4 and stderr.rstrip().splitlines()[-1].startswith("at the end"), stderr
    events = [int(found[0].replace(",", "")) for found in summaries]
    assert events == sorted(events) and events[-1] > events[0] > 0 and int(summaries[-1][1]) > 0
    trigger_lines = [line for line in stdout.splitlines() if "abandoned_cart " in line]
    assert trigger_lines, f"no trigger printed; stderr:\n{stderr}"
    assert all(re.match(r"\d\d:\d\d:\d\d  abandoned_cart +u\d+ +(push|email|sms) +\d+ item\(s\), \d+\.\d\d$", line) for line in trigger_lines)
    assert (tmp_path / ".nudge-data" / "demo" / "worker.log").exists()

    # The demo did start a broker, a worker and a generator, so the check below means something.
    started = " | ".join(children.values())
    for kind in ("tansu", "agents.cli worker", "agents.cli generate", "agents.cli senders"):
        assert kind in started, f"never saw a {kind} child: {started}"
    senders_log = (tmp_path / ".nudge-data" / "demo" / "senders.log").read_text()
    answered = re.search(r"sent (\d+) engagements", senders_log)
    assert answered and int(answered.group(1)) > 0 and "Traceback" not in senders_log, senders_log

    now = process_table()
    left = {pid: args for pid, args in children.items() if pid in now and now[pid][1] == args}
    assert left == {}, f"the demo left processes running: {left}"
    broker_port = re.search(r"broker\s+kafka://127\.0\.0\.1:(\d+)", stderr)
    assert broker_port, stderr
    strays = {
        pid: args
        for pid, (_, args) in now.items()
        if pid not in before and is_nudge_process(args) and (broker_port.group(1) in args or pid in children)
    }
    assert strays == {}, f"processes of this demo still running: {strays}"


def test_format_trigger_renders_a_cart_reminder():
    line = format_trigger(
        {
            "ts": "2026-11-25T09:41:00.000Z",
            "rule": "abandoned_cart",
            "user_id": "u0042",
            "channel": "push",
            "payload": {"item_count": 3, "value": 129.9},
            "reason": "3 item(s) worth 129.90 left in the cart",
        },
        KINDS,
    )
    assert line == "09:41:00  abandoned_cart      u0042     push   3 item(s), 129.90"


def test_format_trigger_summarises_other_payloads_by_reason():
    trigger = {
        "ts": "2026-11-25T23:05:09.123+01:00",
        "rule": "win_back",
        "user_id": "u7",
        "channel": "email",
        "payload": {"days_inactive": 30},
        "reason": "no visit for 30 days",
    }
    line = format_trigger(trigger, KINDS)
    assert line == "23:05:09  win_back            u7        email  no visit for 30 days"
    assert line.split()[:4] == ["23:05:09", "win_back", "u7", "email"]
    assert format_trigger({**trigger, "payload": {}}, KINDS) == line  # no payload fields to show: the reason
    assert format_trigger({**trigger, "rule": "unknown"}, KINDS) == line.replace("win_back", "unknown ")  # a rule not in the file: the reason


def _demo(tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUDGE_")}
    env.update({"PYTHONPATH": str(REPO), **(env_extra or {})})
    command = [sys.executable, "-m", "agents.cli", "demo", "--duration", "30", *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S, stdin=subprocess.DEVNULL)


def test_a_demo_whose_web_port_is_taken_says_so_in_one_line_and_exits_2(tmp_path: Path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _demo(tmp_path, "--web-port", str(port))
    assert result.returncode == 2, result.stderr
    assert f"nudge demo: web port {port} on 127.0.0.1 is taken" in result.stderr and "Traceback" not in result.stderr
    assert "worker    ready" not in result.stderr


def test_a_demo_whose_worker_fails_shows_the_worker_s_own_error_line(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n    params: {delay: soon}\n")
    result = _demo(tmp_path, "--web-port", str(free_port()), env_extra={"NUDGE_RULES": str(rules)})
    assert result.returncode == 2, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("nudge demo:")]
    assert "the worker exited with 2: nudge worker:" in line and "line 5" in line, line


def test_a_demo_whose_generator_fails_stops_and_shows_the_generator_s_own_error_line(tmp_path: Path):
    result = _demo(tmp_path, "--web-port", str(free_port()), "--rate", "0")
    assert result.returncode == 2, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("nudge demo:")]
    assert "the generator exited with 2: nudge generate: --rate must be positive, got 0" in line, line
