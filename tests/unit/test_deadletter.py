"""Dead letters keep the original bytes losslessly and say why, in the value and in headers."""

from __future__ import annotations

import base64

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pipeline.deadletter import dead_letter
from pipeline.validation import Failure, decode_event
from schemas import DeadLetterRecord, Transaction
from schemas.export import build_schema

SCHEMA = Draft202012Validator(build_schema("deadletter"))


def letter(
    failure: Failure, raw: bytes | None, key: bytes | None = b"tx-1"
) -> tuple[dict[str, object], dict[str, bytes]]:
    value, headers = dead_letter(
        failure, raw=raw, key=key, topic="transactions", partition=3, offset=42, received_at=1714564800123.5
    )
    return orjson.loads(value), dict(headers)


def test_record_and_headers() -> None:
    failure = Failure("missing_field", "amount: Field required", "amount")
    record, headers = letter(failure, b'{"event_id": "tx-1"}')
    assert record == {
        "error": {"type": "missing_field", "message": "amount: Field required", "field": "amount"},
        "source": {"topic": "transactions", "partition": 3, "offset": 42},
        "raw": base64.b64encode(b'{"event_id": "tx-1"}').decode(),
        "raw_encoding": "base64",
        "key": base64.b64encode(b"tx-1").decode(),
        "received_at": 1714564800123.5,
    }
    assert headers == {"x-error-type": b"missing_field", "x-source-topic": b"transactions"}
    DeadLetterRecord.model_validate(record)
    assert SCHEMA.is_valid(record)


def test_header_order_is_fixed() -> None:
    _, headers = dead_letter(
        Failure("empty", "message has no value"),
        raw=None,
        key=None,
        topic="texts",
        partition=0,
        offset=0,
        received_at=0,
    )
    assert headers == [("x-error-type", b"empty"), ("x-source-topic", b"texts")]


def test_tombstone_without_key() -> None:
    record, _ = letter(Failure("empty", "message has no value"), None, key=None)
    assert record["raw"] == "" and record["key"] is None
    assert SCHEMA.is_valid(record)


@settings(max_examples=200)
@given(st.binary(max_size=300), st.none() | st.binary(max_size=40))
def test_any_bytes_survive(raw: bytes, key: bytes | None) -> None:
    result = decode_event(raw, Transaction, max_bytes=1_000_000)
    failure = result if isinstance(result, Failure) else Failure("invalid_value", "test")
    record, headers = letter(failure, raw, key)
    assert base64.b64decode(str(record["raw"])) == raw
    assert (base64.b64decode(str(record["key"])) if key is not None else None) == key
    assert headers["x-error-type"] == failure.type.encode()
    assert SCHEMA.is_valid(record)


def test_five_megabyte_value_is_kept_whole() -> None:
    raw = bytes(range(256)) * (5 * 1024 * 1024 // 256)
    failure = decode_event(raw, Transaction, max_bytes=1_000_000)
    assert isinstance(failure, Failure) and failure.type == "too_large"
    record, _ = letter(failure, raw)
    assert base64.b64decode(str(record["raw"])) == raw
