"""What a worker checks before it joins the group: a web port of its own, a data directory of its
own. A second worker on a host used to end in a 78-line traceback from the web server."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from agents.errors import SettingsError
from agents.settings import Settings
from agents.worker import claim_web_port, lock_data_dir


def test_a_taken_web_port_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(web_port=port, data_dir=tmp_path)
        with pytest.raises(SettingsError, match=f"web port {port} on 127.0.0.1 is taken .* --web-port 0 for any free one"):
            claim_web_port(settings)


def test_web_port_zero_means_any_free_port_chosen_at_start(tmp_path: Path) -> None:
    chosen = claim_web_port(Settings(web_port=0, data_dir=tmp_path))
    assert chosen.web_port > 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", chosen.web_port))  # free, so the worker can take it
    assert dataclasses.replace(chosen, web_port=0) == Settings(web_port=0, data_dir=tmp_path)


def test_a_free_web_port_is_kept(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert claim_web_port(Settings(web_port=port, data_dir=tmp_path)).web_port == port


def test_a_data_directory_serves_one_worker_at_a_time(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = lock_data_dir(settings)
    try:
        with pytest.raises(SettingsError, match="in use by another worker .pid [0-9]+.*--data-dir"):
            lock_data_dir(settings)
    finally:
        first.close()
    lock_data_dir(settings).close()  # free again once the first worker is gone
