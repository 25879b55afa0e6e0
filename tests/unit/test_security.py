"""Settings a secured cluster needs: TLS, SASL, replication, a token for the HTTP views, and
secrets that never reach a line anyone reads.

No secured Kafka runs here (the embedded broker speaks plaintext only), so these tests stop at
what Nudge controls: the options every client is given, Faust's credential objects, and what
the settings refuse. The TLS context is a real one, loaded from a CA certificate and a client
certificate made with ``openssl``."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from test_cli import CLOSED_PORT_BROKER, assert_one_line_error, nudge

from agents.errors import SettingsError
from agents.security import Secret, faust_credentials, kafka_client_security
from agents.settings import Settings

PASSWORD = "s3cretPW"
A_FILE = __file__  # for the settings that only check a file exists


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real CA certificate, made with ``openssl``."""
    folder = tmp_path_factory.mktemp("ca")
    key, cert = folder / "ca.key", folder / "ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=nudge test CA"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert)


def sasl_ssl(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "nudge",
        "sasl_password": Secret(PASSWORD),
        "ssl_cafile": A_FILE,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def test_plaintext_is_the_default_and_gives_every_client_plaintext() -> None:
    assert kafka_client_security(Settings()) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(Settings()) is None


def test_sasl_over_tls_gives_kafka_clients_the_mechanism_the_user_and_a_verifying_tls_context(ca_file: str) -> None:
    options = kafka_client_security(sasl_ssl(ssl_cafile=ca_file))
    assert {key: options[key] for key in ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")} == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "nudge",
        "sasl_plain_password": PASSWORD,
    }
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 1  # the given CA, loaded: not the system's


def test_the_worker_gets_faust_s_own_credentials(ca_file: str) -> None:
    credentials = faust_credentials(sasl_ssl(ssl_cafile=ca_file))
    assert isinstance(credentials, SASLCredentials)
    assert (credentials.username, credentials.password, credentials.mechanism.value) == ("nudge", PASSWORD, "SCRAM-SHA-512")
    assert credentials.protocol.value == "SASL_SSL" and credentials.ssl_context is not None
    plain_sasl = faust_credentials(Settings(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password=Secret("p")))
    assert isinstance(plain_sasl, SASLCredentials) and plain_sasl.protocol.value == "SASL_PLAINTEXT"
    assert isinstance(faust_credentials(Settings(security_protocol="SSL")), SSLCredentials)


def test_a_client_certificate_is_loaded_for_mutual_tls(tmp_path: Path) -> None:
    key, cert = tmp_path / "client.key", tmp_path / "client.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=nudge"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = kafka_client_security(Settings(security_protocol="SSL", ssl_certfile=str(cert), ssl_keyfile=str(key)))
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    with pytest.raises(ssl.SSLError):  # the context really reads the files: a key that is not the certificate's fails
        other = tmp_path / "other.key"
        subprocess.run(["openssl", "genrsa", "-out", other, "2048"], check=True, capture_output=True)
        kafka_client_security(Settings(security_protocol="SSL", ssl_certfile=str(cert), ssl_keyfile=str(other)))


@pytest.mark.parametrize(
    ("overrides", "mentions"),
    [
        ({"security_protocol": "TLS"}, "NUDGE_SECURITY_PROTOCOL"),
        ({"sasl_mechanism": "GSSAPI"}, "NUDGE_SASL_MECHANISM"),
        ({"sasl_password": Secret()}, "NUDGE_SASL_PASSWORD"),
        ({"ssl_cafile": "/nowhere/ca.pem"}, "no such file: /nowhere/ca.pem"),
        ({"security_protocol": "SASL_PLAINTEXT"}, "does not use TLS"),
        ({"ssl_keyfile": A_FILE}, "NUDGE_SSL_CERTFILE"),
        ({"replication_factor": 0}, "NUDGE_REPLICATION_FACTOR"),
    ],
)
def test_a_wrong_security_setting_is_refused_by_name(overrides: dict[str, object], mentions: str) -> None:
    with pytest.raises(SettingsError, match=mentions):
        sasl_ssl(**overrides)


def test_a_secret_never_shows_in_the_settings_or_an_error_yet_reaches_a_child_process() -> None:
    settings = sasl_ssl(http_token=Secret("t0ken"))
    for text in (repr(settings), str(settings), f"{settings.sasl_password}"):
        assert PASSWORD not in text and "t0ken" not in text
    environ = settings.to_environ()
    assert environ["NUDGE_SASL_PASSWORD"] == PASSWORD and environ["NUDGE_HTTP_TOKEN"] == "t0ken"
    assert Settings.load(environ) == settings


def test_a_password_in_the_broker_url_is_refused_without_being_printed() -> None:
    result = nudge("worker", "--broker", f"kafka://alice:{PASSWORD}@127.0.0.1:1", timeout_s=15)
    assert_one_line_error(result, mentions="NUDGE_SASL_PASSWORD")
    assert PASSWORD not in result.stderr + result.stdout and "alice" not in result.stderr


def test_a_sasl_setting_from_the_environment_is_checked_before_any_broker_is_tried() -> None:
    result = nudge("worker", "--broker", CLOSED_PORT_BROKER, env={"NUDGE_SECURITY_PROTOCOL": "SASL_SSL", "NUDGE_SASL_PASSWORD": PASSWORD})
    assert_one_line_error(result, mentions="NUDGE_SASL_USERNAME")
    assert PASSWORD not in result.stderr
