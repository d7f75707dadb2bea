"""Open-loop send times and the benchmark's event mix.

Open loop: event ``i`` is due at ``start + i / rate`` whatever the system does. Latency is measured
from that scheduled time, so a producer held up by a slow system cannot hide the wait (coordinated
omission).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import orjson

from pipeline.synthetic import generate_texts, generate_transactions

# The demo producer's mix (pipeline.demo): ~60% transactions, ~40% monitoring texts.
TRANSACTION_SHARE = 0.6


def open_loop_offsets(rate: float, duration_s: float) -> list[float]:
    """Seconds after the start at which each event is due: evenly spaced at ``rate`` per second."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError("rate and duration_s must be > 0")
    count = max(1, round(rate * duration_s))
    return [i / rate for i in range(count)]


@dataclass(frozen=True, slots=True)
class BenchEvent:
    """One input record, serialised before the run so the send loop only sends."""

    kind: str  # "transaction" or "text"
    event_id: str
    value: bytes
    # As the README tells producers to key: transactions by account (the worker's velocity history
    # of an account then lives on one partition), texts by event id.
    key: bytes


def event_mix(count: int, *, seed: int, run_id: str) -> list[BenchEvent]:
    """``count`` events, transactions and texts interleaved at random in the demo's proportions.

    Event ids carry ``run_id`` so records of earlier runs on the same topics are told apart.
    Texts come from the synthetic monitoring generator (median ~77 characters, tweet-like).
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    rng = random.Random(seed)
    kinds = ["transaction" if rng.random() < TRANSACTION_SHARE else "text" for _ in range(count)]
    n_tx = kinds.count("transaction")
    transactions = iter(event for event, _ in generate_transactions(n_tx, seed))
    texts = iter(generate_texts(count - n_tx, seed))
    events = []
    for i, kind in enumerate(kinds):
        event = dict(next(transactions) if kind == "transaction" else next(texts))
        event["event_id"] = f"{run_id}-{i:07d}"
        key = event["account_id"] if kind == "transaction" else event["event_id"]
        events.append(BenchEvent(kind, event["event_id"], orjson.dumps(event), str(key).encode()))
    return events
