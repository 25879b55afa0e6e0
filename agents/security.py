"""How Nudge talks to a secured Kafka cluster: TLS and SASL, one setting for every client.

A production cluster asks for TLS (the brokers' CA, perhaps a client certificate) and SASL
(PLAIN or SCRAM). The settings (agents/settings.py) hold them once; this module turns them into
what each client takes: Faust's own credential objects for the worker, and the same keyword
arguments for every kafka-python and aiokafka client Nudge opens (topic creation, the output
producer, ``generate``, ``record``, ``forget``, the demo). One TLS context serves them all, so a
client can never be secured differently from the others.

A password is a ``Secret``: its ``repr`` and ``str`` never show it, so neither a log line, an
error, nor ``/metrics`` can carry it; only ``reveal`` does, where a client needs it.
"""

from __future__ import annotations

import ssl
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class Secret:
    """A string that is never printed.

    >>> password = Secret("s3cretPW")
    >>> password, str(password), f"{password}", password.reveal()
    (Secret('***'), '***', '***', 's3cretPW')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "***" if self._value else ""

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def uses_tls(protocol: str) -> bool:
    return protocol in ("SSL", "SASL_SSL")


def uses_sasl(protocol: str) -> bool:
    return protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def tls_context(*, cafile: str, certfile: str, keyfile: str) -> ssl.SSLContext:
    """The TLS context of every client: the given CA (else the system's), and a client
    certificate for mutual TLS when one is given. Hostnames are checked, as they must be."""
    context = ssl.create_default_context(cafile=cafile or None)
    if certfile:
        context.load_cert_chain(certfile, keyfile or None)
    return context


def kafka_client_security(settings: Any) -> dict[str, Any]:
    """Keyword arguments for a kafka-python or aiokafka client: both take these names."""
    protocol = settings.security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if uses_tls(protocol):
        options["ssl_context"] = tls_context(cafile=settings.ssl_cafile, certfile=settings.ssl_certfile, keyfile=settings.ssl_keyfile)
    if uses_sasl(protocol):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.reveal()
    return options


def faust_credentials(settings: Any) -> Any:
    """Faust's ``broker_credentials`` for these settings; None on a plaintext cluster."""
    from faust.auth import SASLCredentials, SSLCredentials

    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = tls_context(cafile=settings.ssl_cafile, certfile=settings.ssl_certfile, keyfile=settings.ssl_keyfile) if uses_tls(protocol) else None
    if not uses_sasl(protocol):
        return SSLCredentials(context)
    return SASLCredentials(
        username=settings.sasl_username, password=settings.sasl_password.reveal(), ssl_context=context, mechanism=settings.sasl_mechanism
    )
