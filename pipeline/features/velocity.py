"""Per-account velocity: how many transactions, and how much money, an account moved in the last minutes.

Card testing, account takeover and cash-out all come in bursts on one account, so these counts are
among the strongest fraud signals. Pure: the worker keeps each account's recent history in a Faust
table (``agents.velocity_table``) and the model build replays its synthetic stream through the same
``observe`` (``pipeline.features.model_inputs.replay_velocities``), so training and serving compute identical
features.

Windows run on event time (the transaction's ``timestamp``), so a replay or a late event gets the same
features it would have got live. The history counts each ``event_id`` once: an event redelivered after
a crash (at-least-once) does not inflate its own account's velocity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import orjson

from schemas.transaction import Transaction

SHORT_WINDOW_MS = 10 * 60_000
LONG_WINDOW_MS = 60 * 60_000
# Bounds a table value (about 60 bytes an entry). An account beyond this many transactions an hour
# is flagged anyway; its counts saturate instead of the table growing without limit.
MAX_HISTORY = 64

VELOCITY_FEATURE_NAMES: tuple[str, ...] = (
    "velocity_count_10m",  # log1p of earlier transactions of the account in the last 10 minutes
    "velocity_usd_10m",  # log1p of their total in approximate US dollars
    "velocity_count_1h",
    "velocity_usd_1h",
)


class Velocity(NamedTuple):
    """The account's activity before this transaction (this one excluded)."""

    count_10m: int = 0
    usd_10m: float = 0.0
    count_1h: int = 0
    usd_1h: float = 0.0

    def as_features(self) -> tuple[float, float, float, float]:
        """Model inputs, in the order of ``VELOCITY_FEATURE_NAMES``."""
        return (
            math.log1p(self.count_10m),
            math.log1p(self.usd_10m),
            math.log1p(self.count_1h),
            math.log1p(self.usd_1h),
        )


NO_HISTORY = Velocity()


class Entry(NamedTuple):
    timestamp: float  # epoch ms, as the event carries it
    usd: float
    event_id: str


def decode_history(raw: bytes | None) -> list[Entry]:
    """A table value back into entries; an unreadable value counts as no history (never a crash)."""
    if not raw:
        return []
    try:
        rows = orjson.loads(raw)
        return [Entry(float(ts), float(usd), str(event_id)) for ts, usd, event_id in rows]
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return []


def encode_history(entries: Sequence[Entry]) -> bytes:
    return orjson.dumps([list(entry) for entry in entries])


def velocity_of(entries: Iterable[Entry], timestamp: float, event_id: str) -> Velocity:
    """Activity in the windows ending at ``timestamp``, leaving out ``event_id`` itself."""
    count_10m = count_1h = 0
    usd_10m = usd_1h = 0.0
    for entry in entries:
        age = timestamp - entry.timestamp
        if entry.event_id == event_id or age < 0 or age > LONG_WINDOW_MS:
            continue
        count_1h += 1
        usd_1h += entry.usd
        if age <= SHORT_WINDOW_MS:
            count_10m += 1
            usd_10m += entry.usd
    return Velocity(count_10m, usd_10m, count_1h, usd_1h)


def remember(entries: Sequence[Entry], tx: Transaction, usd: float) -> list[Entry]:
    """History after ``tx`` (worth ``usd``): added once; what the long window can't see is dropped."""
    latest = max([tx.timestamp, *(entry.timestamp for entry in entries)])
    kept = [
        entry
        for entry in entries
        if entry.event_id != tx.event_id and latest - entry.timestamp <= LONG_WINDOW_MS
    ]
    kept.append(Entry(tx.timestamp, round(usd, 2), tx.event_id))
    kept.sort(key=lambda entry: entry.timestamp)
    return kept[-MAX_HISTORY:]


def observe(raw: bytes | None, tx: Transaction, usd: float) -> tuple[Velocity, bytes]:
    """The velocity of ``tx`` given the stored history, and the history to store after it."""
    entries = decode_history(raw)
    return velocity_of(entries, tx.timestamp, tx.event_id), encode_history(remember(entries, tx, usd))


def velocity_drivers(velocity: Velocity) -> list[str]:
    """Alert reasons for unusual activity (sums in approximate USD); empty for an ordinary account."""
    if velocity.count_10m >= 2:
        return [
            f"velocity: {velocity.count_10m} earlier transactions on this account in 10 min "
            f"(~{velocity.usd_10m:,.2f} USD)"
        ]
    if velocity.count_1h >= 2:
        return [
            f"velocity: {velocity.count_1h} earlier transactions on this account in 1 h "
            f"(~{velocity.usd_1h:,.2f} USD)"
        ]
    return []
