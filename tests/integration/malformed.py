"""Hypothesis strategies for messages a producer should never send, each broken in its own way."""

from __future__ import annotations

import string
from typing import Any

import orjson
from hypothesis import strategies as st

from schemas.iso import CURRENCIES

REQUIRED = ("event_id", "account_id", "amount", "currency", "merchant", "description", "timestamp")


def _base(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "account_id": "acct-1",
        "amount": 12.5,
        "currency": "EUR",
        "merchant": "Corner Shop",
        "description": "card payment",
        "timestamp": 1_717_200_000_000,
    }


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
nan_or_infinity = st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(
    lambda lit: orjson.dumps(_base("bad-nan")).replace(b'"amount":12.5', f'"amount":{lit}'.encode())
)


@st.composite
def wrong_type(draw: st.DrawFn) -> bytes:
    event = _base(draw(ids))
    field = draw(st.sampled_from(REQUIRED))
    if field in ("amount", "timestamp"):
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
def missing_fields(draw: st.DrawFn) -> bytes:
    event = _base(draw(ids))
    for field in draw(st.sets(st.sampled_from(REQUIRED), min_size=1)):
        del event[field]
    return orjson.dumps(event)


@st.composite
def negative_amount(draw: st.DrawFn) -> bytes:
    event = _base(draw(ids))
    event["amount"] = draw(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False))
    return orjson.dumps(event)


@st.composite
def unknown_currency(draw: st.DrawFn) -> bytes:
    event = _base(draw(ids))
    event["currency"] = draw(
        st.text(string.ascii_letters, min_size=0, max_size=5).filter(lambda c: c not in CURRENCIES)
    )
    return orjson.dumps(event)


@st.composite
def oversize_field(draw: st.DrawFn) -> bytes:
    event = _base(draw(ids))
    field, limit = draw(st.sampled_from([("description", 2000), ("merchant", 256), ("event_id", 128)]))
    event[field] = "x" * (limit + draw(st.integers(1, 3000)))
    return orjson.dumps(event)


@st.composite
def deeply_nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(33, 3000))
    event = _base(draw(ids))
    raw = orjson.dumps(event)[:-1] + b',"metadata":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    return raw


malformed = st.one_of(
    not_json,
    not_utf8,
    not_object,
    empty,
    nan_or_infinity,
    wrong_type(),
    missing_fields(),
    negative_amount(),
    unknown_currency(),
    oversize_field(),
    deeply_nested(),
)
"""Any message value that must end as a dead letter on the transactions topic."""
