"""Bytes from Kafka -> a validated input model, or a ``Failure`` that says why not.

Errors are data: nothing here raises for bad input (bytewax's Kafka deserializer does the same with
its oks/errs streams), so one malformed message can never stop an agent.

Failure types:
    empty          no value, or only whitespace (tombstones too)
    too_large      value over ``max_bytes``, or a field over its length limit (``field`` says which)
    not_utf8       bytes that are not UTF-8
    not_json       not a JSON document (includes NaN and Infinity, which JSON does not have)
    not_object     valid JSON that is not an object, e.g. a list or a number
    too_deep       containers nested deeper than ``max_depth``
    missing_field  a required field is absent
    wrong_type     a field of the wrong JSON type (strings for numbers, null for a required field...)
    invalid_value  right type, wrong value (unknown currency, negative amount, bad timestamp...)
    internal_error not the message's fault: a bug of ours (set by callers, never by decode_event)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

FailureType = Literal[
    "empty",
    "too_large",
    "not_utf8",
    "not_json",
    "not_object",
    "too_deep",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "internal_error",
]

MAX_DEPTH: Final = 32
"""Deepest container nesting accepted; the event object itself is level 1."""

_MAX_MESSAGE_CHARS: Final = 300
_MAX_FIELD_CHARS: Final = 128
_SNIPPET_CHARS: Final = 16
_TOO_LARGE_ERRORS: Final = frozenset({"string_too_long", "too_long", "bytes_too_long"})
_JSON_TYPE_NAMES: Final = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a message cannot be scored."""

    type: FailureType
    message: str  # for a person; bounded length; never echoes more than a short snippet of input
    field: str | None = None  # dotted path, e.g. "amount" or "metadata.x"
    retriable: bool = False


def decode_event(
    raw: bytes | None, model: type[M], *, max_bytes: int, max_depth: int = MAX_DEPTH
) -> M | Failure:
    """Parse and validate one message value; never raises for bad input."""
    if not raw:
        return Failure("empty", "message has no value")
    if len(raw) > max_bytes:
        return Failure("too_large", f"message is {len(raw):,} bytes; the limit is {max_bytes:,}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _json_failure(raw, exc)
    if type(obj) is not dict:
        return Failure("not_object", f"message is {_json_type_name(obj)}; expected a JSON object")
    # Depth can only exceed the limit if there are that many brackets at all: bytes.count is a
    # C loop, so the tree walk runs only for the rare message that might be too deep.
    if raw.count(b"{") + raw.count(b"[") > max_depth:
        deep_field = _field_nested_too_deep(obj, max_depth)
        if deep_field is not None:
            deep_field = _bounded(deep_field, _MAX_FIELD_CHARS)  # a key can be as long as the message
            return Failure(
                "too_deep", _bounded(f"{deep_field} is nested more than {max_depth} levels deep"), deep_field
            )
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        return _validation_failure(exc)


def _json_failure(raw: bytes, exc: orjson.JSONDecodeError) -> Failure:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Failure("not_utf8", f"message is not UTF-8: byte {bad.start} is invalid ({bad.reason})")
    if not text.strip():
        return Failure("empty", "message is only whitespace")
    reason = exc.msg
    if "depth" in reason or "recursion" in reason:
        return Failure("too_deep", "message nests arrays or objects more than 1,024 levels deep")
    near = text[exc.pos : exc.pos + _SNIPPET_CHARS]  # orjson reports a character position
    if near.lstrip("-").startswith(("NaN", "Infinity")):
        reason = "NaN and Infinity are not JSON numbers"
    elif "infinity" in reason:
        reason = "number too large for a 64-bit float"
    where = f"at character {exc.pos} near {near!r}" if near else "at the end"
    return Failure("not_json", _bounded(f"message is not valid JSON: {reason} {where}"))


def _field_nested_too_deep(obj: dict[str, Any], max_depth: int) -> str | None:
    """The top-level field whose value nests deeper than ``max_depth`` (the root is level 1)."""
    for name, value in obj.items():
        stack: list[tuple[Any, int]] = [(value, 2)]
        while stack:
            node, depth = stack.pop()
            if isinstance(node, dict):
                children: Any = node.values()
            elif isinstance(node, list):
                children = node
            else:
                continue
            if depth > max_depth:
                return name
            stack.extend((child, depth + 1) for child in children)
    return None


def _validation_failure(exc: ValidationError) -> Failure:
    errors = exc.errors(include_url=False, include_context=False)
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"].removeprefix("Value error, ")
    if field:
        message = f"{field}: {message}"
    failure_type = _failure_type(first["type"], first.get("input"))
    if failure_type == "wrong_type":
        message += f" (got {_json_type_name(first.get('input'))})"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return Failure(failure_type, _bounded(message), field)


def _failure_type(pydantic_type: str, value: Any) -> FailureType:
    if pydantic_type == "missing":
        return "missing_field"
    if pydantic_type in _TOO_LARGE_ERRORS:
        return "too_large"
    # "*_type" covers pydantic's own (string_type, float_type...) and schemas' timestamp_type.
    if pydantic_type.endswith("_type"):
        return "wrong_type"
    if pydantic_type == "literal_error" and not isinstance(value, str):
        return "wrong_type"  # e.g. channel: 5; every literal we accept is a string
    return "invalid_value"


def _json_type_name(value: Any) -> str:
    return "null" if value is None else _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _bounded(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
