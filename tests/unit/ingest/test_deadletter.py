"""Dead letters keep the original bytes losslessly and say why, in the value and in headers.

``STREAMGUARD_DEADLETTER_RAW=masked`` masks the value and key as alerts are, ``omit`` drops them.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pipeline.ingest.deadletter import dead_letter, dead_letter_key, mask_raw
from pipeline.ingest.validation import Failure, decode_event
from pipeline.settings import DeadLetterRaw, Settings
from schemas import DeadLetterRecord, Transaction
from schemas.export import build_schema
from tests.unit.pii_factories import leaks, strings_in, texts_with_secrets

SCHEMA = Draft202012Validator(build_schema("deadletter"))


def letter(
    failure: Failure, raw: bytes | None, key: bytes | None = b"tx-1", policy: DeadLetterRaw = "full"
) -> tuple[dict[str, Any], dict[str, bytes]]:
    value, headers = dead_letter(
        failure,
        raw=raw,
        key=key,
        topic="transactions",
        partition=3,
        offset=42,
        received_at=1714564800123.5,
        raw_policy=policy,
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
        "raw_policy": "full",
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


# --- STREAMGUARD_DEADLETTER_RAW ----------------------------------------------------------------
PII_EVENT = {
    "event_id": "tx-9",
    "description": "card 4111 1111 1111 1111, call (415) 555-2671",
    "metadata": {"email": "jane.doe@example.com", "pan": 4111111111111111},
    "timestamp": 1714564800123,
}
SNIPPET = Failure("not_json", "message is not valid JSON: unexpected character near '4111 1111 1111 1111'")


def test_full_is_the_default() -> None:
    assert Settings().deadletter_raw == "full"
    record, _ = letter(SNIPPET, orjson.dumps(PII_EVENT), key=b"4111111111111111")
    assert base64.b64decode(record["raw"]) == orjson.dumps(PII_EVENT)  # by contract: what a replay needs
    assert base64.b64decode(record["key"]) == b"4111111111111111"
    assert record["error"]["message"] == SNIPPET.message and record["raw_policy"] == "full"


def test_masked_json_is_masked_field_by_field() -> None:
    failure = Failure("missing_field", "amount: Field required", "amount")
    record, headers = letter(
        failure, orjson.dumps(PII_EVENT), key=b"acct 4111-1111-1111-1111", policy="masked"
    )
    assert record["raw_policy"] == "masked" and SCHEMA.is_valid(record)
    assert orjson.loads(base64.b64decode(record["raw"])) == {
        "event_id": "tx-9",
        "description": "card **** **** **** 1111, call (***) ***-**71",
        "metadata": {"email": "j***@example.com", "pan": "************1111"},
        "timestamp": 1714564800123,
    }
    assert base64.b64decode(record["key"]) == b"acct ****-****-****-1111"
    assert record["error"] == {
        "type": "missing_field",
        "message": "amount: Field required",
        "field": "amount",
    }
    assert headers["x-error-type"] == b"missing_field"


def test_masked_text_and_bad_bytes_are_masked_as_text() -> None:
    raw = b"not json: card 4111 1111 1111 1111 \xff\xfe mail jane@example.com"
    record, _ = letter(SNIPPET, raw, policy="masked")
    kept = base64.b64decode(record["raw"]).decode()
    assert kept == "not json: card **** **** **** 1111 \ufffd\ufffd mail j***@example.com"
    assert record["error"]["message"].endswith("near '**** **** **** 1111'")
    assert "4111 1111" not in orjson.dumps(record).decode()


def test_masked_bare_number_is_masked_as_a_digit_run() -> None:
    # A value that is only a number parses as JSON, but it carries no amount or timestamp to keep.
    assert mask_raw(b"1000000") == b"*****00"
    assert mask_raw(b"4111111111111111") == b"************1111"
    assert mask_raw(b"123456") == b"123456"


def test_masked_too_deep_json_is_masked_as_text() -> None:
    raw = b"[" * 1000 + b'"4111 1111 1111 1111"' + b"]" * 1000
    assert b"4111" not in mask_raw(raw) and mask_raw(raw).count(b"[") == 1000


def test_omit_keeps_only_the_error_and_the_source() -> None:
    record, headers = letter(SNIPPET, orjson.dumps(PII_EVENT), key=b"4111111111111111", policy="omit")
    assert record["raw"] == "" and record["key"] is None and record["raw_policy"] == "omit"
    assert record["source"] == {"topic": "transactions", "partition": 3, "offset": 42}
    assert record["error"]["type"] == "not_json" and "4111" not in record["error"]["message"]
    assert headers == {"x-error-type": b"not_json", "x-source-topic": b"transactions"}
    assert SCHEMA.is_valid(record) and DeadLetterRecord.model_validate(record).raw_policy == "omit"


def test_the_published_key_follows_the_policy() -> None:
    key = b"5555 5555 5555 4444"
    assert dead_letter_key(key, "full") == key
    assert dead_letter_key(key, "masked") == b"**** **** **** 4444"
    assert dead_letter_key(key, "omit") is None
    assert dead_letter_key(None, "masked") is None


@settings(max_examples=500, deadline=None)
@given(texts_with_secrets(), texts_with_secrets(), st.booleans())
def test_masked_raw_holds_no_secret(
    description: tuple[str, list], key: tuple[str, list], as_json: bool
) -> None:
    raw = orjson.dumps({"description": description[0]}) if as_json else description[0].encode()
    record, _ = letter(SNIPPET, raw, key=key[0].encode(), policy="masked")
    kept = base64.b64decode(record["raw"]).decode()
    outputs = [*strings_in(orjson.loads(kept)), kept] if as_json else [kept]
    outputs.append(base64.b64decode(record["key"]).decode())
    assert not leaks(outputs, [*description[1], *key[1]])
    assert SCHEMA.is_valid(record)
