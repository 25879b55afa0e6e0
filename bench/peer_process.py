"""A peer framework in a child process of its own, and the pipe it reports its progress down.

Faust and Quix Streams each own an event loop and signal handlers, and in production each runs
as a process of its own, so each runs here as one too, started with this interpreter. Their
logs go to a file; what the benchmark needs comes down a pipe of its own, one ``COUNT MONOTONIC``
line at the first event, every ``PROGRESS_EVERY`` and the last, so no banner or log line can pass
for progress. The child stamps each line with its own ``time.monotonic()``: the rate is then the
child's, not delayed by how soon the parent reads.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Sequence

from bench.reading import READY_TIMEOUT_S, STALL_S, ReaderFailed, ReaderRun, Stopwatch
from bench.worker import LOG_TAIL_CHARS, REPO, STOP_GRACE_S

PROGRESS_EVERY = 5000  # often enough to tell a stall from a slow peer


def peer_arguments(description: str) -> argparse.ArgumentParser:
    """The child's command line, shared by every peer so the parent can start any of them alike."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of the broker")
    parser.add_argument("--input", action="append", required=True, help="an input topic (repeated)")
    parser.add_argument("--events", type=int, required=True, help="the backlog: report the last at this count")
    parser.add_argument("--data-dir", type=Path, required=True, help="where the peer may keep local state")
    parser.add_argument("--progress-fd", type=int, required=True, help="the pipe for progress lines")
    return parser


def peer_command(*, bootstrap: str, inputs: Sequence[str], events: int, data_dir: Path) -> list[str]:
    """The arguments :func:`peer_arguments` reads, less the pipe, which :class:`PeerProcess` adds."""
    return [
        "--bootstrap",
        bootstrap,
        *(argument for topic in inputs for argument in ("--input", topic)),
        "--events",
        str(events),
        "--data-dir",
        str(data_dir),
    ]


class ProgressPipe:
    """The child's side: count events, and report the milestones down the pipe."""

    def __init__(self, fd: int, *, events: int) -> None:
        self.fd = fd
        self.events = events
        self.count = 0

    def tick(self) -> bool:
        """One more event; ``True`` once the whole backlog is counted."""
        self.count += 1
        if self.count == 1 or self.count % PROGRESS_EVERY == 0 or self.count == self.events:
            os.write(self.fd, f"{self.count} {time.monotonic()!r}\n".encode())
        return self.count >= self.events


class PeerProcess:
    """``python -m MODULE`` with the peer's arguments, always stopped when its ``with`` block ends."""

    def __init__(self, name: str, *, module: str, args: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.module = module
        self.args = list(args)
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._progress_fd: int | None = None
        self._launched = 0.0

    def __enter__(self) -> PeerProcess:
        read_fd, write_fd = os.pipe()
        try:
            self._launched = time.monotonic()
            with open(self.log_path, "wb") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", self.module, *self.args, "--progress-fd", str(write_fd)],
                    cwd=REPO,
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write_fd,),
                )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the child's copy is then the only one: its exit ends the pipe
        self._progress_fd = read_fd
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM for the framework's own clean shutdown, SIGKILL if it does not finish in time."""
        proc, self._proc = self._proc, None
        fd, self._progress_fd = self._progress_fd, None
        if fd is not None:
            os.close(fd)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def watch(self, *, events: int, broker_pid: int) -> ReaderRun:
        """Read progress until the child reports the whole backlog."""
        if self._proc is None:
            raise ReaderFailed(f"{self.name}: not running")
        stopwatch = Stopwatch(self.name, events=events, reader_pid=self._proc.pid, broker_pid=broker_pid, launched=self._launched)
        pending = b""
        while True:
            chunk = self._read(timeout_s=STALL_S if stopwatch.started else READY_TIMEOUT_S)
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                count_text, at_text = line.split()
                count, at = int(count_text), float(at_text)
                if not stopwatch.started:
                    stopwatch.first(stopwatch.mark(at=at), count=count)
                if count >= events:
                    return stopwatch.done(at=at)

    def log_tail(self) -> str:
        text = self.log_path.read_text(errors="replace")
        return f"--- {self.name} log ({self.log_path}) ---\n{text[-LOG_TAIL_CHARS:]}"

    def _read(self, *, timeout_s: float) -> bytes:
        """What the child wrote next; raises if it writes nothing for ``timeout_s`` or exits."""
        assert self._proc is not None and self._progress_fd is not None
        readable, _, _ = select.select([self._progress_fd], [], [], timeout_s)
        if not readable:
            raise ReaderFailed(f"{self.name}: no progress for {timeout_s:g} s\n{self.log_tail()}")
        chunk = os.read(self._progress_fd, 4096)
        if not chunk:
            status = self._proc.wait()
            raise ReaderFailed(f"{self.name}: exited with status {status} before the end\n{self.log_tail()}")
        return chunk
