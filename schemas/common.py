"""Field types shared by the input models."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

EventId = Annotated[str, StringConstraints(min_length=1, max_length=128)]

# Epoch milliseconds between 1970 and 2200: anything else is a unit mistake (seconds, microseconds).
MAX_EPOCH_MS = 7_258_118_400_000.0

# RFC 3339 date-time (section 5.6), years 1970-2199 to match the epoch range above. Written in the
# regex subset shared by Python and ECMA-262 so the JSON Schema can carry the very same pattern:
# producers whose validators treat "format" as an annotation still check the shape.
RFC3339_PATTERN = (
    r"^(19[7-9][0-9]|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(\.[0-9]+)?"
    r"([Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RFC3339 = re.compile(RFC3339_PATTERN)


def _rfc3339_to_epoch_ms(text: str) -> float:
    # fullmatch: Python's "$" would also accept a trailing newline, ECMA-262's does not.
    if _RFC3339.fullmatch(text) is None:
        raise ValueError(
            f"{text[:40]!r} is not an RFC 3339 date-time from 1970 to 2199, e.g. '2024-05-01T12:00:00Z'"
        )
    try:
        # The pattern fixed the shape, so the fast C parser only has to check the calendar
        # (no 31 February). RFC 3339 allows lower-case t and z; fromisoformat does not.
        moment = datetime.fromisoformat(text.upper())
    except ValueError as exc:
        raise ValueError(f"{text[:40]!r} is not a calendar date: {exc}") from None
    return moment.timestamp() * 1000.0  # microsecond precision: further digits are dropped


def parse_timestamp(value: Any) -> float:
    """RFC 3339 string or epoch milliseconds -> epoch milliseconds (float)."""
    if isinstance(value, str):
        return _rfc3339_to_epoch_ms(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        # A custom "*_type" error so the dead letter says wrong_type, not invalid_value.
        raise PydanticCustomError("timestamp_type", "expected an RFC 3339 string or epoch milliseconds")
    ms = float(value)
    if not math.isfinite(ms) or not 0.0 <= ms <= MAX_EPOCH_MS:
        raise ValueError("out of range: expected epoch milliseconds from 1970 to 2200 (seconds or µs?)")
    return ms


TIMESTAMP_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN},
        {"type": "number", "minimum": 0, "maximum": int(MAX_EPOCH_MS)},
    ],
    "description": "RFC 3339 date-time with an offset, or epoch milliseconds",
}

Timestamp = Annotated[float, BeforeValidator(parse_timestamp), WithJsonSchema(TIMESTAMP_JSON_SCHEMA)]
