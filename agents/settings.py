"""Typed worker settings, read once at the edge from the environment and CLI flags.

The core never reads the environment: these values are handed to it as constructor arguments.
Every environment variable is ``NUDGE_`` + the field name in upper case.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from agents.errors import SettingsError
from agents.security import MECHANISMS, PROTOCOLS, Secret, uses_sasl, uses_tls

ENV_PREFIX = "NUDGE_"


@dataclass(frozen=True, slots=True)
class Settings:
    broker: str = "kafka://127.0.0.1:9092"  # kafka://HOST:PORT[,HOST:PORT...]
    topic_prefix: str = ""  # prepended to every topic name, for shared clusters and tests
    app_id: str = "nudge"  # Faust app id: consumer group and changelog topic prefix
    partitions: int = 4  # partitions of every Nudge topic; the ceiling on useful workers
    web_host: str = "127.0.0.1"  # where /metrics and the HTTP views listen
    web_port: int = 6066  # 0: any free port, chosen when the worker starts
    data_dir: Path = Path(".nudge-data")  # Faust's local data directory
    rules: str = ""  # the rules file (YAML); empty: the default shipped in streams/rules/default.yaml
    interest_half_life_s: int = 86_400  # interest scores halve in this much event time
    consent_default: str = "granted"  # granted | denied: consent on a channel the user never spoke about
    idle_advance_ms: int = 1000  # a partition quiet this long lets its clock follow the wall clock
    max_future_skew_s: int = 3600  # an event further ahead of its Kafka timestamp is dead-lettered; 0: no limit
    batch_size: int = 1000  # most events one agent step takes
    batch_within_ms: int = 50  # longest wait to fill a batch
    store: str = "memory"  # memory | rocksdb: where the worker keeps its tables (rocksdb: on disk, in data_dir)
    cache_users: int = 100_000  # with the rocksdb store, the most unchanged users kept decoded in memory
    standby_replicas: int = 0  # workers that keep a warm copy of each partition's tables, for a faster takeover
    embedded_broker: str = "auto"  # auto | on | off: the work-arounds for the embedded broker (Tansu)
    replication_factor: int = 1  # copies of every topic Nudge creates, the tables' changelogs included: 3 on a production cluster
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str = "PLAIN"  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl_username: str = ""
    sasl_password: Secret = Secret()  # never printed: not in a log line, an error or /metrics
    ssl_cafile: str = ""  # the CA bundle that signed the brokers' certificates; empty: the system's
    ssl_certfile: str = ""  # a client certificate, for mutual TLS
    ssl_keyfile: str = ""  # its private key, when not in the certificate file
    channels: str = "push,email,sms"  # the channels the senders read, comma-separated: a rule on another one is warned about
    http_token: Secret = Secret()  # when set, the HTTP views ask for "Authorization: Bearer TOKEN" (/metrics stays open)
    log_level: str = "info"

    def __post_init__(self) -> None:
        _check_broker_url(self.broker)
        if not 1 <= self.partitions <= 1024:
            raise SettingsError(f"NUDGE_PARTITIONS must be between 1 and 1024, got {self.partitions}")
        if not 0 <= self.web_port < 65536:
            raise SettingsError(f"NUDGE_WEB_PORT must be a TCP port (0: any free one), got {self.web_port}")
        if self.interest_half_life_s <= 0:
            raise SettingsError("NUDGE_INTEREST_HALF_LIFE_S must be positive")
        if self.consent_default not in ("granted", "denied"):
            raise SettingsError(f"NUDGE_CONSENT_DEFAULT must be granted or denied, got {self.consent_default!r}")
        if self.embedded_broker not in ("auto", "on", "off"):
            raise SettingsError(f"NUDGE_EMBEDDED_BROKER must be auto, on or off, got {self.embedded_broker!r}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"NUDGE_LOG_LEVEL must be debug, info, warning or error, got {self.log_level!r}")
        if self.store not in ("memory", "rocksdb"):
            raise SettingsError(f"NUDGE_STORE must be memory or rocksdb, got {self.store!r}")
        if self.cache_users < 1:
            raise SettingsError(f"NUDGE_CACHE_USERS must be positive, got {self.cache_users}")
        if not 0 <= self.standby_replicas <= 8:
            raise SettingsError(f"NUDGE_STANDBY_REPLICAS must be between 0 and 8, got {self.standby_replicas}")
        if self.max_future_skew_s < 0:
            raise SettingsError(f"NUDGE_MAX_FUTURE_SKEW_S must be 0 (no limit) or more, got {self.max_future_skew_s}")
        if self.batch_size < 1 or self.batch_within_ms < 1 or self.idle_advance_ms < 1:
            raise SettingsError("NUDGE_BATCH_SIZE, NUDGE_BATCH_WITHIN_MS and NUDGE_IDLE_ADVANCE_MS must be positive")
        if not 1 <= self.replication_factor <= 16:
            raise SettingsError(f"NUDGE_REPLICATION_FACTOR must be between 1 and 16, got {self.replication_factor}")
        if not self.channel_names:
            raise SettingsError("NUDGE_CHANNELS must name at least one channel, such as push,email,sms")
        self._check_security()

    def _check_security(self) -> None:
        protocol = self.security_protocol
        if protocol not in PROTOCOLS:
            raise SettingsError(f"NUDGE_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        if self.sasl_mechanism not in MECHANISMS:
            raise SettingsError(f"NUDGE_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}, got {self.sasl_mechanism!r}")
        if uses_sasl(protocol) and not (self.sasl_username and self.sasl_password):
            raise SettingsError(f"NUDGE_SECURITY_PROTOCOL={protocol} needs NUDGE_SASL_USERNAME and NUDGE_SASL_PASSWORD")
        files = {"NUDGE_SSL_CAFILE": self.ssl_cafile, "NUDGE_SSL_CERTFILE": self.ssl_certfile, "NUDGE_SSL_KEYFILE": self.ssl_keyfile}
        given = [name for name, path in files.items() if path]
        if given and not uses_tls(protocol):
            raise SettingsError(f"{', '.join(given)} given, but NUDGE_SECURITY_PROTOCOL={protocol} does not use TLS (SSL or SASL_SSL)")
        for name in given:
            if not Path(files[name]).is_file():
                raise SettingsError(f"{name}: no such file: {files[name]}")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise SettingsError("NUDGE_SSL_KEYFILE needs NUDGE_SSL_CERTFILE, the certificate it is the key of")

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.channels.split(",") if name.strip())

    @property
    def bootstrap_servers(self) -> list[str]:
        """``host:port`` entries for plain Kafka clients."""
        return [part.split("://", 1)[-1] for part in self.broker.split(",")]

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def to_environ(self) -> dict[str, str]:
        """The inverse of ``load``: how these settings reach a child process.

        >>> Settings.load(Settings(partitions=8).to_environ()).partitions
        8
        """
        return {ENV_PREFIX + item.name.upper(): _environ_value(getattr(self, item.name)) for item in dataclasses.fields(self)}

    @classmethod
    def load(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Environment first, then explicit overrides (CLI flags); ``None`` overrides are ignored."""
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + item.name.upper())
            if raw is not None:
                values[item.name] = _convert(item.name, item.type, raw)
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)


def _environ_value(value: Any) -> str:
    """A setting as an environment variable carries it: a secret revealed, for a child process only."""
    return value.reveal() if isinstance(value, Secret) else str(value)


def _convert(name: str, kind: Any, raw: str) -> Any:
    kind_name = kind if isinstance(kind, str) else kind.__name__
    if kind_name == "Secret":
        return Secret(raw)
    if kind_name == "int":
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be a whole number, got {raw!r}") from None
    if kind_name == "Path":
        return Path(raw)
    return raw


def _check_broker_url(url: str) -> None:
    """A broker URL is hosts and ports only. One carrying a user and password is refused without
    echoing it: credentials belong in NUDGE_SASL_USERNAME and NUDGE_SASL_PASSWORD, which are never
    printed."""
    for part in url.split(","):
        if "://" not in part:
            part = "kafka://" + part
        parsed = urlsplit(part)
        if "@" in parsed.netloc:
            raise SettingsError(
                "the broker URL must not carry credentials (it has a user@ part, not shown here): "
                "set NUDGE_SECURITY_PROTOCOL, NUDGE_SASL_USERNAME and NUDGE_SASL_PASSWORD instead"
            )
        try:
            port = parsed.port
        except ValueError:
            port = None
        if parsed.scheme != "kafka" or not parsed.hostname or port is None:
            raise SettingsError(f"broker must look like kafka://HOST:PORT, got {url!r}")
