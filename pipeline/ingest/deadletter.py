"""Dead-letter records: a message that cannot be scored, why, and its original bytes.

The value matches ``schemas.deadletter.DeadLetterRecord``. As Kafka Connect does with
``errors.deadletterqueue.context.headers.enable``, the error type and source topic are also put in
headers, so a consumer can route or count dead letters without parsing the value.

By contract the ``deadletter`` topic keeps the raw input: it is what an operator fixes and replays,
so it may hold personal data. ``STREAMGUARD_DEADLETTER_RAW`` changes that for deployments that may
not keep it (``raw_policy`` in the record says which applied):

    full    raw value and key as consumed, base64 (the default)
    masked  value and key masked as alerts are (``pipeline.records.masking``): a value that is JSON is
            parsed, masked field by field and re-serialised, anything else is decoded as UTF-8
            (bad bytes replaced) and masked as text; still base64, so the schema holds
    omit    no value (``raw`` is "") and no key: only the error and the source coordinates

Under ``masked`` and ``omit`` the error message and field are masked too: a message may quote a
short snippet of the input. The Kafka key of the dead letter follows the same policy.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from pipeline.ingest.validation import Failure
from pipeline.records.masking import mask_pii, mask_text
from pipeline.settings import DeadLetterRaw

HEADER_ERROR_TYPE = "x-error-type"
HEADER_SOURCE_TOPIC = "x-source-topic"


def dead_letter(
    failure: Failure,
    *,
    raw: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    received_at: float,
    raw_policy: DeadLetterRaw = "full",
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The JSON value and headers for the ``deadletter`` topic.

    ``raw`` is kept losslessly as base64 whatever it holds (invalid UTF-8, NUL bytes, megabytes);
    a missing value becomes "". Note base64 grows the value by a third: the dead-letter topic's
    ``max.message.bytes`` must allow for it.
    """
    message, field = failure.message, failure.field
    if raw_policy != "full":
        message = mask_text(message)
        field = None if field is None else mask_text(field)
    if raw_policy == "omit":
        raw = None
    elif raw_policy == "masked" and raw:
        raw = mask_raw(raw)
    kept_key = dead_letter_key(key, raw_policy)
    record = {
        "error": {"type": failure.type, "message": message, "field": field},
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "raw": base64.b64encode(raw).decode("ascii") if raw else "",
        "raw_encoding": "base64",
        "raw_policy": raw_policy,
        "key": base64.b64encode(kept_key).decode("ascii") if kept_key is not None else None,
        "received_at": float(received_at),
    }
    headers = [
        (HEADER_ERROR_TYPE, failure.type.encode()),
        (HEADER_SOURCE_TOPIC, topic.encode()),
    ]
    return orjson.dumps(record), headers


def dead_letter_key(key: bytes | None, raw_policy: DeadLetterRaw = "full") -> bytes | None:
    """The key a dead letter is published with, and records: the input's, masked, or none."""
    if key is None or raw_policy == "full":
        return key
    if raw_policy == "omit":
        return None
    return mask_text(key.decode("utf-8", errors="replace")).encode()


def mask_raw(raw: bytes) -> bytes:
    """``raw`` with personal data masked: as JSON when it parses, else as (repaired) UTF-8 text."""
    parsed = _json_or_none(raw)
    # A bare number at the top is no event with amounts and timestamps to keep: it is a digit run.
    if isinstance(parsed, dict | list | str):
        try:
            return orjson.dumps(mask_pii(parsed))
        except (RecursionError, orjson.JSONEncodeError):
            pass  # nested past Python's recursion limit (orjson parses 1,024 levels): mask as text
    return mask_text(raw.decode("utf-8", errors="replace")).encode()


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # like a JSON null, a number or a bool: masked as text
