"""Hypothesis strategies and plain factories for input events, valid and almost valid."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from schemas.common import MAX_EPOCH_MS
from schemas.iso import COUNTRIES, CURRENCIES
from schemas.transaction import Transaction

CHANNELS = ("card_present", "online", "atm", "transfer")
TX_REQUIRED = ("event_id", "account_id", "amount", "currency", "merchant", "description", "timestamp")
TEXT_REQUIRED = ("event_id", "text", "timestamp")


def transaction(**overrides: Any) -> dict[str, Any]:
    """A valid transaction as a producer would send it."""
    event = {
        "event_id": "tx-1",
        "account_id": "acct-42",
        "amount": 129.95,
        "currency": "EUR",
        "merchant": "Acme Books",
        "description": "order 77812: books",
        "timestamp": "2024-05-01T12:00:00.123Z",
        "country": "DE",
        "channel": "online",
        "mcc": "5942",
        "metadata": {"ip": "10.0.0.1", "tags": ["a", "b"]},
    }
    event.update(overrides)
    return event


def text_event(**overrides: Any) -> dict[str, Any]:
    """A valid text event as a producer would send it."""
    event = {
        "event_id": "t-1",
        "text": "The app has been down all morning, this outage is unacceptable.",
        "timestamp": 1714564800123,
        "source": "support",
        "author": "jane",
        "lang": "en",
    }
    event.update(overrides)
    return event


def nested(depth: int) -> Any:
    """An object ``depth`` levels deep: nested(1) == {}."""
    value: Any = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


# --- building blocks ---------------------------------------------------------------------
# orjson refuses integers beyond 64 bits, so the generated JSON stays inside them.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)

_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@st.composite
def rfc3339_strings(draw: st.DrawFn) -> str:
    """Valid RFC 3339 date-times from 1970 to 2199, in the shapes producers send."""
    moment = draw(
        st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2199, 12, 30), timezones=_offsets)
    )
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    text += draw(st.sampled_from(["", ".1", ".123", ".123456", ".123456789"]))
    offset = moment.utcoffset() or timedelta(0)
    if offset == timedelta(0) and draw(st.booleans()):
        text += draw(st.sampled_from(["Z", "z"]))
    else:
        minutes = int(offset.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        text += f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    if draw(st.booleans()):
        text = text.replace("T", "t")
    return text


timestamps = (
    rfc3339_strings()
    | st.integers(min_value=0, max_value=int(MAX_EPOCH_MS))
    | st.floats(min_value=0, max_value=MAX_EPOCH_MS)
)

# Near misses: right shape, wrong content (31 April, hour 24, year 1969, missing offset...).
timestamp_near_misses = st.from_regex(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{0,3})?([Zz]|[+-][0-9]{2}:?[0-9]{2})?\Z"
) | st.floats(allow_nan=False, allow_infinity=False)


def _short(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(min_size=min_size, max_size=max_size)


# Text up to the limit, with the exact limit and one past it as explicit edge cases.
def _bounded_text(limit: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return _short(min(limit, 40), min_size) | st.just("x" * limit)


valid_transactions = st.fixed_dictionaries(
    {
        "event_id": _bounded_text(128, 1),
        "account_id": _bounded_text(128, 1),
        "amount": st.floats(min_value=0, max_value=1e12) | st.integers(min_value=0, max_value=2**63 - 1),
        "currency": st.sampled_from(sorted(CURRENCIES)),
        "merchant": _bounded_text(256, 1),
        "description": _bounded_text(2000),
        "timestamp": timestamps,
    },
    optional={
        "country": st.none() | st.sampled_from(sorted(COUNTRIES)),
        "channel": st.none() | st.sampled_from(CHANNELS),
        "mcc": st.none() | st.from_regex(r"\A[0-9]{4}\Z"),
        "metadata": st.none() | json_objects,
        "unknown_extra": json_values,
    },
)

valid_text_events = st.fixed_dictionaries(
    {"event_id": _bounded_text(128, 1), "text": _bounded_text(10_000, 1), "timestamp": timestamps},
    optional={
        "source": st.none() | _bounded_text(256),
        "author": st.none() | _bounded_text(256),
        "lang": st.none() | _bounded_text(35),
        "metadata": st.none() | json_objects,
        "unknown_extra": json_values,
    },
)

# Per-field values that are often one step outside what the contract accepts.
_near_misses: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.sampled_from(["", "x" * 129]) | _short(3),
    "account_id": st.sampled_from(["", "x" * 129]),
    "amount": st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(["12.5", True, -0.01]),
    "currency": st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabc", min_size=2, max_size=4),
    "merchant": st.sampled_from(["", "x" * 257]),
    "description": st.sampled_from(["x" * 2001]),
    "timestamp": timestamp_near_misses,
    "country": st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZa", min_size=1, max_size=3),
    "channel": st.sampled_from(["ONLINE", "web", "", "atm "]),
    "mcc": st.from_regex(r"\A[0-9a]{3,5}\n?\Z"),
    "metadata": json_values,
    "text": st.sampled_from(["", "x" * 10_001]),
    "source": st.sampled_from(["x" * 257]),
    "author": st.sampled_from(["x" * 257]),
    "lang": st.sampled_from(["x" * 36]),
}


@st.composite
def mutated(
    draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]], required: tuple[str, ...]
) -> dict[str, Any]:
    """A valid event with one change that may or may not make it invalid."""
    event = dict(draw(valid))
    how = draw(st.sampled_from(["drop", "any_json", "near_miss", "extra"]))
    if how == "drop":
        event.pop(draw(st.sampled_from(required)), None)
        return event
    if how == "extra":
        event[draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in event))] = draw(json_values)
        return event
    names = sorted(set(event) | set(required))
    name = draw(st.sampled_from(names))
    if how == "near_miss" and name in _near_misses:
        event[name] = draw(_near_misses[name])
    else:
        event[name] = draw(json_values)
    return event


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body`` + digit pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # these are doubled once the check digit is appended
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """Luhn-valid card numbers with real-world prefixes and lengths 13-19."""
    prefix, lengths = draw(
        st.sampled_from(
            [
                ("4", (13, 16, 19)),  # Visa
                ("51", (16,)),  # Mastercard
                ("2221", (16,)),  # Mastercard 2-series
                ("34", (15,)),  # Amex
                ("37", (15,)),
                ("6011", (16, 19)),  # Discover
                ("35", (16,)),  # JCB
                ("62", (16, 17, 18, 19)),  # UnionPay
            ]
        )
    )
    length = draw(st.sampled_from(lengths))
    body = prefix + "".join(
        draw(
            st.lists(
                st.sampled_from("0123456789"),
                min_size=length - len(prefix) - 1,
                max_size=length - len(prefix) - 1,
            )
        )
    )
    return body + luhn_check_digit(body)


NIGHT_MS = 1_709_263_800_000


def make_tx(**overrides: Any) -> Transaction:
    fields: dict[str, Any] = {
        "event_id": "tx-1",
        "account_id": "acct-1",
        "amount": 42.5,
        "currency": "EUR",
        "merchant": "Tesco Stores",
        "description": "weekly shop",
        "timestamp": NIGHT_MS + 9 * 3_600_000,  # 12:30 UTC
        "country": "DE",
        "channel": "card_present",
        "mcc": "5411",
    }
    fields.update(overrides)
    return Transaction.model_validate(fields)
