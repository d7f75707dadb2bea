"""decode_event: valid events round-trip, every kind of bad input is a Failure with a clear reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest.validation import MAX_DEPTH, Failure, decode_event
from schemas import TextEvent, Transaction
from tests.unit.event_factories import (
    TX_REQUIRED,
    nested,
    text_event,
    transaction,
    valid_text_events,
    valid_transactions,
)

LIMIT = 1_000_000
DROP = object()  # tx_json(amount=DROP) leaves the field out


def tx_json(**overrides: Any) -> bytes:
    return orjson.dumps({k: v for k, v in transaction(**overrides).items() if v is not DROP})


def decode_tx(raw: bytes | None, max_bytes: int = LIMIT) -> Transaction | Failure:
    return decode_event(raw, Transaction, max_bytes=max_bytes)


def failure_of(raw: bytes | None, model: type[Any] = Transaction, max_bytes: int = LIMIT) -> Failure:
    result = decode_event(raw, model, max_bytes=max_bytes)
    assert isinstance(result, Failure), f"expected a Failure, got {result!r}"
    assert len(result.message) <= 300
    assert result.field is None or len(result.field) <= 128
    assert result.retriable is False
    return result


def expected_ms(timestamp: str | float) -> float:
    if isinstance(timestamp, str):
        return datetime.fromisoformat(timestamp.upper()).timestamp() * 1000
    return float(timestamp)


# --- valid input ---------------------------------------------------------------------------
def test_valid_transaction() -> None:
    tx = decode_tx(orjson.dumps(transaction()))
    assert isinstance(tx, Transaction)
    assert tx.amount == 129.95
    assert tx.timestamp == 1714564800123.0
    assert tx.metadata == {"ip": "10.0.0.1", "tags": ["a", "b"]}


def test_unknown_fields_are_ignored() -> None:
    tx = decode_tx(orjson.dumps(transaction(loyalty_tier="gold", nested={"a": [1]})))
    assert isinstance(tx, Transaction)
    assert not hasattr(tx, "loyalty_tier")


@pytest.mark.parametrize(
    ("timestamp", "ms"),
    [
        ("1970-01-01T00:00:00Z", 0.0),
        ("2024-05-01T12:00:00.5+02:00", 1714557600500.0),
        ("2024-05-01t12:00:00z", 1714564800000.0),
        ("2024-02-29T00:00:00-00:00", 1709164800000.0),
        (1714564800123, 1714564800123.0),
        (1714564800123.5, 1714564800123.5),
    ],
)
def test_timestamp_forms(timestamp: str | float, ms: float) -> None:
    tx = decode_tx(orjson.dumps(transaction(timestamp=timestamp)))
    assert isinstance(tx, Transaction)
    assert tx.timestamp == ms


@settings(max_examples=150)
@given(valid_transactions)
def test_every_valid_transaction_round_trips(event: dict[str, Any]) -> None:
    tx = decode_tx(orjson.dumps(event))
    assert isinstance(tx, Transaction), tx
    assert tx.event_id == event["event_id"]
    assert tx.amount == float(event["amount"])
    assert tx.timestamp == pytest.approx(expected_ms(event["timestamp"]), abs=1e-3)
    assert tx.metadata == event.get("metadata")
    # What the pipeline re-serialises is accepted again, unchanged.
    again = decode_tx(orjson.dumps(tx.model_dump()))
    assert again == tx


@settings(max_examples=100)
@given(valid_text_events)
def test_every_valid_text_event_round_trips(event: dict[str, Any]) -> None:
    ev = decode_event(orjson.dumps(event), TextEvent, max_bytes=LIMIT)
    assert isinstance(ev, TextEvent), ev
    assert ev.text == event["text"]
    assert decode_event(orjson.dumps(ev.model_dump()), TextEvent, max_bytes=LIMIT) == ev


# --- never raises --------------------------------------------------------------------------
@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    result = decode_tx(raw)
    assert isinstance(result, Failure | Transaction)


@settings(max_examples=200)
@given(st.text(alphabet='{}[]":,0123456789.eE+-tfnulrsaNIy \\', max_size=60))
def test_json_like_text_never_raises(text: str) -> None:
    assert isinstance(decode_tx(text.encode()), Failure | Transaction)


# --- every malformed kind has its documented type and field ---------------------------------
MALFORMED = [
    pytest.param(None, "empty", None, id="no value (tombstone)"),
    pytest.param(b"", "empty", None, id="empty value"),
    pytest.param(b" \r\n\t", "empty", None, id="whitespace"),
    pytest.param(b'{"event_id": "\xff\xfe"}', "not_utf8", None, id="invalid UTF-8"),
    pytest.param(b'{"event_id": "\xed\xa0\x80"}', "not_utf8", None, id="UTF-8 surrogate bytes"),
    pytest.param(b'{"event_id": "tx-1"', "not_json", None, id="truncated JSON"),
    pytest.param(b"hello", "not_json", None, id="not JSON at all"),
    pytest.param(b'{"amount": NaN}', "not_json", None, id="NaN"),
    pytest.param(b'{"amount": Infinity}', "not_json", None, id="Infinity"),
    pytest.param(b'{"amount": -Infinity}', "not_json", None, id="-Infinity"),
    pytest.param(b'{"amount": 1e400}', "not_json", None, id="number overflowing a double"),
    pytest.param(b'{"a": 1} x', "not_json", None, id="trailing garbage"),
    pytest.param(b"[1, 2]", "not_object", None, id="JSON array"),
    pytest.param(b'"tx"', "not_object", None, id="JSON string"),
    pytest.param(b"42", "not_object", None, id="JSON number"),
    pytest.param(b"null", "not_object", None, id="JSON null"),
    pytest.param(b"true", "not_object", None, id="JSON boolean"),
    pytest.param(b"[" * 5000 + b"]" * 5000, "too_deep", None, id="orjson depth limit"),
    pytest.param(tx_json(metadata=nested(MAX_DEPTH)), "too_deep", "metadata", id="deep metadata"),
    pytest.param(tx_json(extra=[[[nested(MAX_DEPTH)]]]), "too_deep", "extra", id="deep unknown field"),
    *[
        pytest.param(tx_json(**{name: DROP}), "missing_field", name, id=f"missing {name}")
        for name in TX_REQUIRED
    ],
    pytest.param(tx_json(amount="12.50"), "wrong_type", "amount", id="amount as string"),
    pytest.param(tx_json(amount=True), "wrong_type", "amount", id="amount as boolean"),
    pytest.param(tx_json(event_id=7), "wrong_type", "event_id", id="event_id as number"),
    pytest.param(tx_json(event_id=None), "wrong_type", "event_id", id="event_id null"),
    pytest.param(tx_json(timestamp=[2024]), "wrong_type", "timestamp", id="timestamp as array"),
    pytest.param(tx_json(timestamp=False), "wrong_type", "timestamp", id="timestamp as boolean"),
    pytest.param(tx_json(metadata=[1]), "wrong_type", "metadata", id="metadata as list"),
    pytest.param(tx_json(channel=1), "wrong_type", "channel", id="channel as number"),
    pytest.param(tx_json(description="d" * 2001), "too_large", "description", id="description 2,001 chars"),
    pytest.param(tx_json(event_id="e" * 129), "too_large", "event_id", id="event_id 129 chars"),
    pytest.param(tx_json(amount=-0.01), "invalid_value", "amount", id="negative amount"),
    pytest.param(tx_json(currency="eur"), "invalid_value", "currency", id="lower-case currency"),
    pytest.param(tx_json(currency="ABC"), "invalid_value", "currency", id="unknown currency"),
    pytest.param(tx_json(country="XX"), "invalid_value", "country", id="unknown country"),
    pytest.param(tx_json(channel="web"), "invalid_value", "channel", id="unknown channel"),
    pytest.param(tx_json(mcc="59a2"), "invalid_value", "mcc", id="mcc with a letter"),
    pytest.param(tx_json(event_id=""), "invalid_value", "event_id", id="empty event_id"),
    pytest.param(tx_json(timestamp="yesterday"), "invalid_value", "timestamp", id="timestamp prose"),
    pytest.param(
        tx_json(timestamp="2024-05-01T12:00:00"), "invalid_value", "timestamp", id="timestamp no offset"
    ),
    pytest.param(
        tx_json(timestamp="2024-04-31T12:00:00Z"), "invalid_value", "timestamp", id="timestamp 31 April"
    ),
    pytest.param(tx_json(timestamp=-1), "invalid_value", "timestamp", id="negative timestamp"),
    pytest.param(tx_json(timestamp=1714564800123000), "invalid_value", "timestamp", id="timestamp in µs"),
]


@pytest.mark.parametrize(("raw", "kind", "field"), MALFORMED)
def test_malformed_transaction(raw: bytes | None, kind: str, field: str | None) -> None:
    failure = failure_of(raw)
    assert (failure.type, failure.field) == (kind, field), failure.message
    if field is not None:
        assert failure.message.startswith(field)


@pytest.mark.parametrize(
    ("event", "kind", "field"),
    [
        ({k: v for k, v in text_event().items() if k != "text"}, "missing_field", "text"),
        (text_event(text="t" * 10_001), "too_large", "text"),
        (text_event(text=""), "invalid_value", "text"),
        (text_event(text=["a"]), "wrong_type", "text"),
        (text_event(lang="x" * 36), "too_large", "lang"),
        (text_event(metadata="not a dict"), "wrong_type", "metadata"),
    ],
)
def test_malformed_text_event(event: dict[str, Any], kind: str, field: str) -> None:
    failure = failure_of(orjson.dumps(event), TextEvent)
    assert (failure.type, failure.field) == (kind, field)


def test_oversize_message() -> None:
    raw = orjson.dumps(transaction(description="d" * 500))
    failure = failure_of(raw, max_bytes=len(raw) - 1)
    assert failure.type == "too_large"
    assert f"{len(raw):,}" in failure.message
    assert isinstance(decode_tx(raw, max_bytes=len(raw)), Transaction)


def test_depth_limit_is_exact() -> None:
    # The event object is level 1, so metadata may hold MAX_DEPTH - 1 levels.
    assert isinstance(decode_tx(orjson.dumps(transaction(metadata=nested(MAX_DEPTH - 1)))), Transaction)
    assert failure_of(orjson.dumps(transaction(metadata=nested(MAX_DEPTH)))).type == "too_deep"


def test_brackets_inside_strings_are_not_depth() -> None:
    tx = decode_tx(orjson.dumps(transaction(description="{[" * 500)))
    assert isinstance(tx, Transaction)


def test_several_errors_are_counted() -> None:
    failure = failure_of(orjson.dumps({"event_id": "tx-1"}))
    assert failure.type == "missing_field"
    assert failure.message.endswith("(and 5 more)")


def test_messages_never_echo_large_input() -> None:
    huge = "A" * 100_000
    for raw in (
        orjson.dumps(transaction(currency=huge)),
        orjson.dumps(transaction(timestamp=huge)),
        orjson.dumps(transaction(description=huge)),
        b'{"a": "' + huge.encode() + b'" x}',
        orjson.dumps(transaction(**{huge: nested(MAX_DEPTH)})),
    ):
        assert len(failure_of(raw).message) <= 300
