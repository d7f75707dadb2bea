"""Open-loop send times and the benchmark's event mix.

Open loop: event ``i`` is due at ``start + i / rate`` whatever the system does. Latency is measured
from that scheduled time, so a producer held up by a slow system cannot hide the wait (coordinated
omission).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from pipeline.features.model_inputs import transaction_text
from pipeline.synthetic.transactions import generate_texts, generate_transactions
from schemas import Transaction

# The demo producer's mix (pipeline.tooling.demo): ~60% transactions, ~40% monitoring texts.
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


@dataclass(frozen=True, slots=True)
class RepeatShares:
    """Per cent of a run's events whose model text repeats an earlier event's of the same run.

    ``texts_pct``: texts whose ``text`` came before (the sentiment score cache's key);
    ``descriptions_pct``: transactions whose model text (merchant and description, the fraud
    embedding cache's key) came before. ``None`` where the run holds no event of that kind.
    """

    texts_pct: float | None
    descriptions_pct: float | None


def repeat_shares(events: Sequence[BenchEvent]) -> RepeatShares:
    """How much of ``events`` a cache keyed by model text could answer from the run itself.

    A worker with caches on may skip the model for these events (and more, if its warm-up traffic
    held the same texts); with caches off it runs every one. The template-based generators repeat
    more the longer the run: compare cached and uncached figures at the same rate only.
    """
    texts: list[str] = []
    descriptions: list[str] = []
    for event in events:
        body = orjson.loads(event.value)
        if event.kind == "text":
            texts.append(str(body["text"]))
        else:
            descriptions.append(transaction_text(Transaction.model_validate(body)))
    return RepeatShares(_repeat_pct(texts), _repeat_pct(descriptions))


def _repeat_pct(values: Iterable[str]) -> float | None:
    seen: set[str] = set()
    repeats = total = 0
    for value in values:
        total += 1
        repeats += value in seen
        seen.add(value)
    return 100.0 * repeats / total if total else None
