"""The tools ride out a paused broker: ``nudge generate`` keeps going through a SIGSTOP of the
broker, says once that it is waiting and once that the broker answers again, loses nothing and
prints no traceback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from agents.admin import ensure_topics
from agents.broker import EmbeddedBroker
from agents.settings import Settings
from agents.topics import all_topics, input_topics
from tests.integration.harness import REPO, read_topic

PAUSE_S = 12.0  # past the tools' 5 s notice, and past kafka-python's 10 s request timeout


def test_generate_rides_out_a_paused_broker_and_says_so(tmp_path: Path) -> None:
    with EmbeddedBroker() as broker:
        settings = Settings(broker=broker.url, partitions=2, data_dir=tmp_path / "data")
        ensure_topics(settings, all_topics(settings))  # as `nudge broker` or a worker would have
        env = {key: value for key, value in os.environ.items() if not key.startswith("NUDGE_")}
        env.update({"PYTHONPATH": str(REPO), **settings.to_environ()})
        command = [sys.executable, "-m", "agents.cli", "generate", "--users", "40", "--rate", "100", "--duration", "20", "--seed", "4"]
        generator = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(4.0)  # traffic flowing before the pause: nothing to poll for, the generator runs on its own clock
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE_S)  # the pause itself
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        _, stderr = generator.communicate(timeout=180)
        assert generator.returncode == 0, stderr
        assert "Traceback" not in stderr and "Exception ignored" not in stderr
        assert re.search(r"has acknowledged nothing for \d+ s \(\d+ sends waiting\): retrying for up to 120 s", stderr), stderr
        assert "answers again" in stderr, stderr
        sent = int(re.search(r"^sent (\d+) events$", stderr, re.MULTILINE).group(1))  # type: ignore[union-attr]
        on_topics = sum(len(read_topic(settings, topic, quiet_s=1.0)) for topic in input_topics(settings).values())
        assert sent > 1_000 and on_topics == sent
