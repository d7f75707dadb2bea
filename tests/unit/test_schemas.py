"""The shipped JSON Schemas: up to date, valid draft 2020-12, and in agreement with the pydantic models."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from pipeline.ingest.validation import Failure, decode_event
from schemas import TextEvent, Transaction
from schemas.export import TOPICS, build_schema, main, render, schema_path
from tests.unit.event_factories import (
    TEXT_REQUIRED,
    TX_REQUIRED,
    mutated,
    transaction,
    valid_text_events,
    valid_transactions,
)

# Without it the jsonschema package silently skips "format": "date-time" and the comparison lies.
needs_date_time_checker = pytest.mark.skipif(
    importlib.util.find_spec("rfc3339_validator") is None,
    reason="install rfc3339-validator (dev extra) so jsonschema checks date-time",
)


def validator(topic: str) -> Draft202012Validator:
    return Draft202012Validator(build_schema(topic), format_checker=Draft202012Validator.FORMAT_CHECKER)


TX_SCHEMA = validator("transactions")
TEXT_SCHEMA = validator("texts")


@pytest.mark.parametrize("topic", list(TOPICS))
def test_shipped_file_matches_models(topic: str) -> None:
    path = schema_path(topic)
    assert path.read_text(encoding="utf-8") == render(build_schema(topic)), (
        f"{path.name} is stale: run python -m schemas.export"
    )


def test_export_check_mode(tmp_path: Any) -> None:
    assert main(["--check"]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 1  # nothing there yet
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.schema.json" for t in TOPICS)


@pytest.mark.parametrize("topic", list(TOPICS))
def test_schema_is_valid_draft_2020_12(topic: str) -> None:
    schema = json.loads(schema_path(topic).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(topic)
    assert schema["title"] and schema["description"]


def test_input_schemas_are_usable_elsewhere() -> None:
    props = build_schema("transactions")["properties"]
    assert {"type": "string", "format": "date-time"}.items() <= props["timestamp"]["anyOf"][0].items()
    assert props["timestamp"]["anyOf"][1]["type"] == "number"
    assert "EUR" in props["currency"]["enum"]
    assert build_schema("transactions")["additionalProperties"] is True
    assert set(build_schema("transactions")["required"]) == set(TX_REQUIRED)
    assert set(build_schema("texts")["required"]) == set(TEXT_REQUIRED)


@pytest.mark.parametrize(
    ("topic", "kind", "labels"),
    [
        ("scores.transactions", "fraud", ["fraud", "legit"]),
        ("alerts.fraud", "fraud", ["fraud", "legit"]),
        ("scores.texts", "sentiment", None),
        ("alerts.sentiment", "sentiment", None),
    ],
)
def test_output_schemas_name_their_kind_and_labels(topic: str, kind: str, labels: list[str] | None) -> None:
    """Fraud labels are fixed; a text record carries the served model's labels (any model can be
    imported), so its schema describes them instead of enumerating ours."""
    props = build_schema(topic)["properties"]
    assert props["kind"]["const"] == kind
    if labels is None:
        assert "enum" not in props["label"] and "served text model" in props["label"]["description"]
        assert "enum" not in props["probabilities"]["propertyNames"]
    else:
        assert props["label"]["enum"] == labels


def accepted_by_pydantic(event: dict[str, Any], model: type[Any]) -> bool:
    return not isinstance(decode_event(orjson.dumps(event), model, max_bytes=10_000_000), Failure)


@needs_date_time_checker
@settings(max_examples=150)
@given(valid_transactions)
def test_valid_transactions_pass_both(event: dict[str, Any]) -> None:
    assert accepted_by_pydantic(event, Transaction)
    assert TX_SCHEMA.is_valid(event), list(TX_SCHEMA.iter_errors(event))


@needs_date_time_checker
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(valid_transactions, TX_REQUIRED))
def test_pydantic_and_json_schema_agree_on_transactions(event: dict[str, Any]) -> None:
    by_schema = TX_SCHEMA.is_valid(event)
    assert accepted_by_pydantic(event, Transaction) == by_schema, (
        decode_event(orjson.dumps(event), Transaction, max_bytes=10_000_000),
        [e.message[:200] for e in TX_SCHEMA.iter_errors(event)],
    )


@needs_date_time_checker
@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(valid_text_events, TEXT_REQUIRED))
def test_pydantic_and_json_schema_agree_on_text_events(event: dict[str, Any]) -> None:
    by_schema = TEXT_SCHEMA.is_valid(event)
    assert accepted_by_pydantic(event, TextEvent) == by_schema, (
        decode_event(orjson.dumps(event), TextEvent, max_bytes=10_000_000),
        [e.message[:200] for e in TEXT_SCHEMA.iter_errors(event)],
    )


@needs_date_time_checker
@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-05-01T12:00:00",
        "2024-05-01 12:00:00Z",
        "20240501T120000Z",
        "1969-12-31T23:59:59Z",
        "2024-02-30T00:00:00Z",
        -1,
    ],
)
def test_both_reject_the_same_timestamps(timestamp: Any) -> None:
    event = transaction(timestamp=timestamp)
    assert not TX_SCHEMA.is_valid(event)
    assert not accepted_by_pydantic(event, Transaction)
