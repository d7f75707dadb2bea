"""Kafka security settings: combinations checked at load, and the SASL password never printed."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest
from pydantic import ValidationError

from pipeline.kafka.security import aiokafka_security, faust_credentials
from pipeline.settings import Settings, load_settings

PASSWORD = "hunter2-Very-Secret"


@pytest.fixture
def cafile(tmp_path: Path) -> Path:
    # The system bundle is a real PEM CA file; an empty placeholder would not load.
    bundle = ssl.get_default_verify_paths().cafile
    if bundle is None or not Path(bundle).is_file():
        pytest.skip("no system CA bundle to stand in for a CA file")
    return Path(bundle)


def sasl_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "alice",
        "sasl_password": PASSWORD,
    }
    return load_settings(**{**values, **overrides})


def test_plaintext_is_the_default_and_needs_nothing() -> None:
    settings = load_settings()
    assert settings.security_protocol == "PLAINTEXT"
    assert settings.ssl_check_hostname is True
    assert aiokafka_security(settings) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_security_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGUARD_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("STREAMGUARD_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("STREAMGUARD_SASL_USERNAME", "bob")
    monkeypatch.setenv("STREAMGUARD_SASL_PASSWORD", PASSWORD)
    settings = load_settings()
    assert settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == PASSWORD


def test_the_password_never_shows_in_reprs() -> None:
    settings = sasl_settings()
    options = aiokafka_security(settings)
    credentials = faust_credentials(settings)

    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)
    assert PASSWORD not in repr(options)
    assert PASSWORD not in repr(credentials)
    # ...while the clients still receive the real value.
    assert options["sasl_plain_password"] == PASSWORD
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.password == PASSWORD


def test_the_password_never_shows_in_validation_errors() -> None:
    with pytest.raises(ValidationError) as refused:
        load_settings(security_protocol="SASL_PLAINTEXT", sasl_password=PASSWORD)  # no mechanism, no user
    assert PASSWORD not in str(refused.value)
    assert PASSWORD not in repr(refused.value)
    with pytest.raises(ValidationError) as stray:
        load_settings(sasl_password=PASSWORD)  # PLAINTEXT does not use SASL
    assert PASSWORD not in str(stray.value)
    with pytest.raises(ValidationError) as wrong_type:
        sasl_settings(sasl_password=["a list", PASSWORD])
    assert PASSWORD not in str(wrong_type.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"security_protocol": "SASL_SSL"},
            "SECURITY_PROTOCOL=SASL_SSL needs STREAMGUARD_SASL_MECHANISM, STREAMGUARD_SASL_USERNAME, "
            "STREAMGUARD_SASL_PASSWORD",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "u"},
            "needs STREAMGUARD_SASL_PASSWORD",
        ),
        ({"sasl_username": "u"}, "STREAMGUARD_SASL_USERNAME set but STREAMGUARD_SECURITY_PROTOCOL=PLAINTEXT"),
        ({"ssl_cafile": "/ca.pem"}, "STREAMGUARD_SSL_CAFILE set but STREAMGUARD_SECURITY_PROTOCOL=PLAINTEXT"),
        ({"security_protocol": "SSL", "ssl_cafile": "/nowhere/ca.pem"}, "is not a readable file"),
        ({"security_protocol": "SSL", "ssl_keyfile": "/k.pem"}, "STREAMGUARD_SSL_KEYFILE needs"),
        ({"security_protocol": "TLS"}, "security_protocol"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
    ],
)
def test_combinations_are_checked_at_load(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_settings(**overrides)


def test_ssl_without_a_ca_file_uses_the_system_trust() -> None:
    options = aiokafka_security(load_settings(security_protocol="SSL"))
    context = options["ssl_context"]
    assert options["security_protocol"] == "SSL"
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0 or ssl.get_default_verify_paths().capath


def test_ssl_with_a_ca_file_and_no_hostname_check(cafile: Path) -> None:
    settings = load_settings(security_protocol="SSL", ssl_cafile=cafile, ssl_check_hostname=False)
    options = aiokafka_security(settings)
    assert options["ssl_context"].check_hostname is False
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED  # the chain is still verified
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.context is not None and credentials.context.check_hostname is False


def test_sasl_ssl_gives_both_a_context_and_sasl_options(cafile: Path) -> None:
    settings = sasl_settings(security_protocol="SASL_SSL", ssl_cafile=cafile)
    options = aiokafka_security(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "alice"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"


def test_sasl_plaintext_has_no_tls_context() -> None:
    options = aiokafka_security(sasl_settings())
    assert "ssl_context" not in options
    credentials = faust_credentials(sasl_settings())
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"
