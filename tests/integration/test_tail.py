"""``nudge tail`` against the embedded broker, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from kafka import KafkaProducer

from agents.admin import ensure_topics
from agents.settings import Settings
from agents.topics import all_topics
from tests.integration.harness import REPO


def _nudge(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUDGE_")}
    env.update({"PYTHONPATH": str(REPO), **settings.to_environ()})
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_tail_prints_json_values_text_and_bytes_each_as_one_line(settings: Settings) -> None:
    ensure_topics(settings, all_topics(settings))
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for key, value in ((b"u1", b'{"rule": "cart"}'), (b"\xff\xfe", b"\xff\x00"), (b"u2", b"plain text")):
        producer.send(settings.topic("clicks"), key=key, value=value, partition=0)
    producer.flush()
    producer.close()
    result = _nudge(settings, "tail", "clicks", "--from-beginning", "--max-messages", "3")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["offset"] for line in lines] == [0, 1, 2] and {line["topic"] for line in lines} == {"clicks"}
    assert (lines[0]["key"], lines[0]["value"]) == ("u1", {"rule": "cart"})
    assert (lines[1]["key_base64"], lines[1]["value_base64"]) == ("//4=", "/wA=")
    assert lines[2]["value"] == "plain text"


def test_tail_of_a_topic_that_does_not_exist_is_one_line_and_exit_2(settings: Settings) -> None:
    result = _nudge(settings, "tail", "trigers", "--duration", "2")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert f"no topic '{settings.topic('trigers')}'" in result.stderr and "Traceback" not in result.stderr
