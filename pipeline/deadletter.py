"""Dead-letter records: a message that cannot be scored, why, and its original bytes.

The value matches ``schemas.deadletter.DeadLetterRecord``. As Kafka Connect does with
``errors.deadletterqueue.context.headers.enable``, the error type and source topic are also put in
headers, so a consumer can route or count dead letters without parsing the value.
"""

from __future__ import annotations

import base64

import orjson

from pipeline.validation import Failure

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
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The JSON value and headers for the ``deadletter`` topic.

    ``raw`` is kept losslessly as base64 whatever it holds (invalid UTF-8, NUL bytes, megabytes);
    a missing value becomes "". Note base64 grows the value by a third: the dead-letter topic's
    ``max.message.bytes`` must allow for it.
    """
    record = {
        "error": {"type": failure.type, "message": failure.message, "field": failure.field},
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "raw": base64.b64encode(raw).decode("ascii") if raw else "",
        "raw_encoding": "base64",
        "key": base64.b64encode(key).decode("ascii") if key is not None else None,
        "received_at": float(received_at),
    }
    headers = [
        (HEADER_ERROR_TYPE, failure.type.encode()),
        (HEADER_SOURCE_TOPIC, topic.encode()),
    ]
    return orjson.dumps(record), headers
