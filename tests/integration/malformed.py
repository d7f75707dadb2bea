"""Hypothesis strategies for messages a producer should never send, each broken in its own way:
``malformed`` for the transactions topic, ``malformed_texts`` for the texts topic."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import strategies as st

from schemas.iso import CURRENCIES


@dataclass(frozen=True)
class Shape:
    """What a topic's events look like, for breaking them."""

    base: dict[str, Any]  # a valid event (``event_id`` is replaced)
    required: tuple[str, ...]
    numbers: tuple[str, ...]  # numeric fields: wrong types drawn from non-numbers
    limits: tuple[tuple[str, int], ...]  # (field, longest accepted string)

    def event(self, event_id: str) -> dict[str, Any]:
        return {**self.base, "event_id": event_id}


TRANSACTION = Shape(
    base={
        "event_id": "",
        "account_id": "acct-1",
        "amount": 12.5,
        "currency": "EUR",
        "merchant": "Corner Shop",
        "description": "card payment",
        "timestamp": 1_717_200_000_000,
    },
    required=("event_id", "account_id", "amount", "currency", "merchant", "description", "timestamp"),
    numbers=("amount", "timestamp"),
    limits=(("description", 2000), ("merchant", 256), ("event_id", 128)),
)
TEXT = Shape(
    base={"event_id": "", "text": "the checkout page times out", "timestamp": 1_717_200_000_000},
    required=("event_id", "text", "timestamp"),
    numbers=("timestamp",),
    limits=(("text", 10_000), ("source", 256), ("author", 256), ("lang", 35), ("event_id", 128)),
)


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


ints = st.integers(-(2**63), 2**63 - 1)  # what JSON encoders (orjson) can write
ids = st.text(string.ascii_letters + string.digits, min_size=1, max_size=24).map(lambda s: f"bad-{s}")

not_json = (
    st.text(min_size=1, max_size=200).filter(lambda t: t.strip() != "" and not _is_json(t)).map(str.encode)
)
not_utf8 = st.binary(min_size=1, max_size=200).filter(lambda b: not _is_utf8(b))
not_object = st.one_of(
    st.lists(ints, max_size=5),
    ints,
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.none(),
).map(orjson.dumps)
empty = st.sampled_from([b"", b" ", b"\n\t  "])


@st.composite
def nan_or_infinity(draw: st.DrawFn, shape: Shape) -> bytes:
    field = draw(st.sampled_from(shape.numbers))
    literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
    event = shape.event("bad-nan")
    return orjson.dumps(event).replace(f'"{field}":{event[field]}'.encode(), f'"{field}":{literal}'.encode())


@st.composite
def wrong_type(draw: st.DrawFn, shape: Shape) -> bytes:
    event = shape.event(draw(ids))
    field = draw(st.sampled_from(shape.required))
    if field in shape.numbers:
        value: Any = draw(
            st.one_of(
                st.lists(ints, max_size=2),
                st.booleans(),
                st.none(),
                st.dictionaries(st.text(max_size=3), ints, max_size=2),
            )
        )
    else:
        value = draw(
            st.one_of(
                ints,
                st.floats(allow_nan=False),
                st.booleans(),
                st.none(),
                st.lists(st.text(max_size=3), max_size=2),
            )
        )
    event[field] = value
    return orjson.dumps(event)


@st.composite
def missing_fields(draw: st.DrawFn, shape: Shape) -> bytes:
    event = shape.event(draw(ids))
    for field in draw(st.sets(st.sampled_from(shape.required), min_size=1)):
        del event[field]
    return orjson.dumps(event)


@st.composite
def negative_amount(draw: st.DrawFn) -> bytes:
    event = TRANSACTION.event(draw(ids))
    event["amount"] = draw(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False))
    return orjson.dumps(event)


@st.composite
def unknown_currency(draw: st.DrawFn) -> bytes:
    event = TRANSACTION.event(draw(ids))
    event["currency"] = draw(
        st.text(string.ascii_letters, min_size=0, max_size=5).filter(lambda c: c not in CURRENCIES)
    )
    return orjson.dumps(event)


@st.composite
def oversize_field(draw: st.DrawFn, shape: Shape) -> bytes:
    event = shape.event(draw(ids))
    field, limit = draw(st.sampled_from(shape.limits))
    event[field] = "x" * (limit + draw(st.integers(1, 3000)))
    return orjson.dumps(event)


@st.composite
def deeply_nested(draw: st.DrawFn, shape: Shape) -> bytes:
    depth = draw(st.integers(33, 3000))
    event = shape.event(draw(ids))
    raw = orjson.dumps(event)[:-1] + b',"metadata":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    return raw


@st.composite
def empty_text(draw: st.DrawFn) -> bytes:
    return orjson.dumps({**TEXT.event(draw(ids)), "text": ""})


@st.composite
def metadata_not_object(draw: st.DrawFn) -> bytes:
    metadata = draw(st.one_of(ints, st.text(max_size=5), st.lists(ints, max_size=3), st.booleans()))
    return orjson.dumps({**TEXT.event(draw(ids)), "metadata": metadata})


def _any_topic(shape: Shape) -> list[st.SearchStrategy[bytes]]:
    return [
        not_json,
        not_utf8,
        not_object,
        empty,
        nan_or_infinity(shape),
        wrong_type(shape),
        missing_fields(shape),
        oversize_field(shape),
        deeply_nested(shape),
    ]


malformed = st.one_of(*_any_topic(TRANSACTION), negative_amount(), unknown_currency())
"""Any message value that must end as a dead letter on the transactions topic."""

malformed_texts = st.one_of(*_any_topic(TEXT), empty_text(), metadata_not_object())
"""Any message value that must end as a dead letter on the texts topic."""
