"""Settings: env vars with the STREAMGUARD_ prefix, frozen, and documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest

from pipeline.settings import Settings, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_match_the_contract() -> None:
    s = Settings()
    assert s.bootstrap is None
    assert s.sla_ms == 20
    assert s.web_port == 6066
    assert s.input_topics == ("transactions", "texts")
    assert s.output_topics == (
        "scores.transactions",
        "scores.texts",
        "alerts.fraud",
        "alerts.sentiment",
        "deadletter",
    )


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGUARD_BOOTSTRAP", "kafka:9093")
    monkeypatch.setenv("STREAMGUARD_SLA_MS", "35")
    monkeypatch.setenv("STREAMGUARD_TOPIC_TEXTS", "ops.texts")
    monkeypatch.setenv("STREAMGUARD_SEVERITY_BANDS", '{"high": 0.85}')
    monkeypatch.setenv("STREAMGUARD_WATCH_TERMS", '["outage"]')
    monkeypatch.setenv("STREAMGUARD_DEADLETTER_RAW", "omit")
    s = load_settings()
    assert s.deadletter_raw == "omit"
    assert (s.bootstrap, s.sla_ms, s.topic_texts) == ("kafka:9093", 35.0, "ops.texts")
    assert s.severity_bands == {"high": 0.85}
    assert s.watch_terms == ("outage",)


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(pydantic.ValidationError):
        s.sla_ms = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("STREAMGUARD_SLA_MS", "0"),
        ("STREAMGUARD_MAX_BATCH", "0"),
        ("STREAMGUARD_SEVERITY_BANDS", '{"urgent": 0.9}'),
        ("STREAMGUARD_FRAUD_THRESHOLD", "1.5"),
        ("STREAMGUARD_DEADLETTER_RAW", "hashed"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(pydantic.ValidationError) as info:
        load_settings()
    assert var.removeprefix("STREAMGUARD_").lower() in str(info.value)


def test_readme_documents_every_setting() -> None:
    documented = set(re.findall(r"^\| `(STREAMGUARD_[A-Z_]+)` \|", README.read_text(), flags=re.M))
    expected = {f"STREAMGUARD_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_clients_connect_to_the_configured_kafka_else_the_embedded_port() -> None:
    assert Settings(bootstrap=None, broker_port=19092).client_bootstrap == "127.0.0.1:19092"
    assert Settings(bootstrap="kafka:9092", broker_port=19092).client_bootstrap == "kafka:9092"
