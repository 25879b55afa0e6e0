"""What a secured deployment needs of a real worker and a real broker: topics created with the
configured replication factor, and HTTP views that ask for the bearer token while /metrics stays
open and Faust's own pages are closed."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from agents.admin import admin_client, ensure_topics
from agents.security import Secret
from agents.settings import Settings
from agents.topics import all_topics
from tests.integration.harness import REPO, WorkerProcess


def test_every_topic_is_created_with_the_configured_replication_factor(settings: Settings) -> None:
    """The embedded broker has one node yet records the factor asked for (real Kafka refuses a
    factor above its brokers, which ``ensure_topics`` reports in one line)."""
    replicated = dataclasses.replace(settings, replication_factor=2)
    specs = all_topics(replicated)
    ensure_topics(replicated, specs)
    with admin_client(replicated) as admin:
        described = admin.describe_topics([spec.name for spec in specs])
    assert {topic["name"] for topic in described} == {spec.name for spec in specs}
    assert all(len(partition["replica_nodes"]) == 2 for topic in described for partition in topic["partitions"])


def _uplift(url: str, *, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUDGE_")}
    env.update({"PYTHONPATH": str(REPO), **({"NUDGE_HTTP_TOKEN": token} if token else {})})
    command = [sys.executable, "-m", "agents.cli", "uplift", "--url", url, "--json"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def _get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_http_views_ask_for_the_token_metrics_stay_open_and_faust_s_pages_are_closed(settings: Settings, tmp_path: Path) -> None:
    worker = WorkerProcess(dataclasses.replace(settings, http_token=Secret("t0ken")), log_path=tmp_path / "worker.log").start()
    try:
        base = f"http://127.0.0.1:{worker.web_port}"
        for path in ("/profiles/alice", "/uplift", "/segments/active/count"):
            assert _get(base + path) == 401, path
            assert _get(base + path, "wrong") == 401, path
        assert _get(base + "/profiles/alice", "t0ken") == 404  # asked with the token: alice is simply unknown
        assert _get(base + "/uplift", "t0ken") == 200
        assert _get(base + "/segments/active/count", "t0ken") == 200
        assert _get(base + "/metrics") == 200
        for faust_page in ("/router/", "/table/", f"/table/{settings.app_id}-users/"):
            assert _get(base + faust_page, "t0ken") == 404, faust_page
        assert "t0ken" not in worker.log_path.read_text()
        # `nudge uplift --url` sends the token it is given, and says in one line when it has none.
        refused = _uplift(base, token=None)
        assert refused.returncode == 2 and "asks for a token: set NUDGE_HTTP_TOKEN" in refused.stderr, refused.stderr
        answered = _uplift(base, token="t0ken")
        assert answered.returncode == 0 and '"complete": true' in answered.stdout, answered.stderr
    finally:
        worker.stop()
