"""The demo producer behind ``streamguard produce``: synthetic traffic, malformed messages, JSONL replay.

Load is open-loop: message ``i`` is due at ``start + i / rate`` whatever the broker or the worker does,
so a slow consumer shows up as latency instead of silently lowering the offered rate.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from pipeline.kafka.security import aiokafka_security
from pipeline.settings import Settings
from pipeline.synthetic.transactions import generate_texts, generate_transactions_detailed

log = logging.getLogger(__name__)

Message = tuple[str, bytes | None, bytes]
"""(topic, key, value) as handed to the producer."""

# Each kind breaks a transaction in one way; the value is what pipeline.ingest.validation should report.
EXPECTED_FAILURE_TYPE: dict[str, str] = {
    "not_json": "not_json",
    "invalid_utf8": "not_utf8",
    "wrong_type": "wrong_type",
    "missing_field": "missing_field",
    "oversize_field": "too_large",
    "negative_amount": "invalid_value",
    "unknown_currency": "invalid_value",
    "json_array": "not_object",
    "empty": "empty",
}
MALFORMED_KINDS: tuple[str, ...] = tuple(EXPECTED_FAILURE_TYPE)

_TRANSACTION_SHARE = 0.6
_CHUNK = 2_000  # synthetic rows generated at a time: endless streams without holding them all
_PROGRESS_EVERY_S = 5.0
_REQUIRED_TRANSACTION_FIELDS = (
    "event_id",
    "account_id",
    "amount",
    "currency",
    "merchant",
    "description",
    "timestamp",
)
_SAMPLE_TRANSACTION: dict[str, Any] = {
    "event_id": "bad-0",
    "account_id": "acct-0",
    "amount": 12.5,
    "currency": "USD",
    "merchant": "Corner Shop",
    "description": "Card payment to Corner Shop",
    "timestamp": 1_717_200_000_000,
    "country": "US",
    "channel": "card_present",
    "mcc": "5411",
}


def malformed_message(kind: str, rng: random.Random, base: dict[str, Any] | None = None) -> bytes:
    """A message value that is not a valid ``Transaction``, broken in the way ``kind`` names.

    ``base`` is the valid transaction to break (a fixed sample if omitted).
    """
    event = dict(base or _SAMPLE_TRANSACTION)
    if kind == "not_json":
        return rng.choice((b"this is not json", b'{"event_id": "x", "amount": ', b"NaN", b"{'quotes': 1}"))
    if kind == "invalid_utf8":
        return b'{"event_id": "' + bytes([0xFF, 0xFE, 0xC3]) + b'", "amount": 1}'
    if kind == "wrong_type":
        # JSON types no lax conversion accepts (a numeric string like "12.5" would pass as a number).
        field, value = rng.choice(
            (
                ("amount", [12.5]),
                ("amount", {"value": 12.5}),
                ("merchant", 42),
                ("event_id", None),
                ("description", ["a", "b"]),
            )
        )
        event[field] = value
    elif kind == "missing_field":
        del event[rng.choice(_REQUIRED_TRANSACTION_FIELDS)]
    elif kind == "oversize_field":
        event["description"] = "A" * (2_001 + rng.randrange(8_000))  # the schema allows 2,000 characters
    elif kind == "negative_amount":
        event["amount"] = -round(rng.uniform(0.01, 500), 2)
    elif kind == "unknown_currency":
        event["currency"] = rng.choice(("ZZZ", "usd", "BTC", "ABC"))  # three letters, not ISO 4217
    elif kind == "json_array":
        return orjson.dumps([event])
    elif kind == "empty":
        return b""
    else:
        raise ValueError(f"unknown malformed kind {kind!r}; choose from {MALFORMED_KINDS}")
    return orjson.dumps(event)


def demo_messages(
    settings: Settings, seed: int, *, clock: Callable[[], float] | None = time.time
) -> Iterator[Message]:
    """Endless (topic, key, value): ~60% transactions, ~40% texts, ``demo_bad_ratio`` malformed.

    With ``clock`` set, event timestamps are the time of generation (epoch ms) so latencies measured from
    the event make sense live; ``clock=None`` keeps the synthetic timestamps (fully deterministic).
    Malformed messages go to the transactions topic. Transactions are keyed by ``account_id`` (one
    account, one partition: what the worker's velocity table needs); texts by ``event_id``.
    """
    rng = random.Random(seed)
    transactions = _endless(lambda chunk: _live_accounts(chunk, live=clock is not None), seed)
    texts = _endless(lambda chunk: iter(generate_texts(_CHUNK, chunk)), seed)
    while True:
        is_transaction = rng.random() < _TRANSACTION_SHARE
        event = next(transactions) if is_transaction else next(texts)
        if clock is not None:
            event["timestamp"] = int(clock() * 1000)
        key = (event["account_id"] if is_transaction else event["event_id"]).encode()
        if rng.random() < settings.demo_bad_ratio:
            base = event if is_transaction else None
            value = malformed_message(rng.choice(MALFORMED_KINDS), rng, base)
            yield settings.topic_transactions, key, value
        elif is_transaction:
            yield settings.topic_transactions, key, orjson.dumps(event)
        else:
            yield settings.topic_texts, key, orjson.dumps(event)


def _live_accounts(chunk_seed: int, *, live: bool) -> Iterator[dict[str, Any]]:
    """A chunk of synthetic transactions; live, each legitimate one from an account of its own.

    A chunk spans 90 synthetic days. Replayed in real time, an account's ordinary purchases would come
    seconds apart and look like card testing to the velocity features; fraud episodes keep their
    shared account, so their bursts still do.
    """
    rng = random.Random(chunk_seed)
    for row in generate_transactions_detailed(_CHUNK, chunk_seed):
        if live and row.typology == "legit":
            row.event["account_id"] = f"{row.event['account_id']}-{rng.getrandbits(32):08x}"
        yield row.event


def _endless(make_chunk: Callable[[int], Iterator[dict[str, Any]]], seed: int) -> Iterator[dict[str, Any]]:
    # Chunk seeds differ, so event ids (which embed the seed) stay unique across chunks.
    chunk_seed = seed * 1_000_003
    while True:
        yield from make_chunk(chunk_seed)
        chunk_seed += 1


def file_messages(settings: Settings, path: Path, topic: str | None = None) -> Iterator[Message]:
    """Each non-blank line of a JSONL file, sent as is (malformed lines too).

    Without ``topic``, a line with a "text" field goes to the texts topic and anything else
    (a line with "amount", or one that does not parse) to the transactions topic.
    """
    with path.open("rb") as lines:
        for line in lines:
            value = line.rstrip(b"\r\n")
            if not value.strip():
                continue
            parsed = _try_parse(value) or {}
            is_text = topic == settings.topic_texts or (
                topic is None and "text" in parsed and "amount" not in parsed
            )
            # Transactions by account (the velocity table's partitioning), texts by event id.
            key = parsed.get("event_id") if is_text else parsed.get("account_id", parsed.get("event_id"))
            key_bytes = key.encode() if isinstance(key, str) else None
            if topic is not None:
                yield topic, key_bytes, value
            elif is_text:
                yield settings.topic_texts, key_bytes, value
            else:
                yield settings.topic_transactions, key_bytes, value


def _try_parse(value: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


async def produce(
    settings: Settings,
    bootstrap: str,
    *,
    rate: float,
    count: int | None,
    file: Path | None = None,
    topic: str | None = None,
    seed: int = 0,
) -> int:
    """Send ``count`` messages (``None``: until cancelled) at ``rate`` per second; returns how many.

    On cancellation the producer is flushed and closed and the cancellation propagates.
    """
    from aiokafka import AIOKafkaProducer  # imported here so `streamguard --help` stays instant

    if rate <= 0:
        raise ValueError("rate must be positive")
    messages = file_messages(settings, file, topic) if file is not None else demo_messages(settings, seed)
    # linger batches messages (single-message batches cost Tansu a lot of CPU); no enable_idempotence:
    # Tansu rejects the InitProducerId version aiokafka sends.
    # Room for messages over max_message_bytes, so a replayed file can exercise the too_large path.
    max_request_size = max(settings.max_message_bytes * 2, 1 << 20)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        max_request_size=max_request_size,
        **aiokafka_security(settings),
    )
    await producer.start()
    progress = _Progress(rate)
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        for message_topic, key, value in messages:
            if count is not None and progress.sent >= count:
                break
            delay = start + progress.sent / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif progress.sent % 256 == 0:
                await asyncio.sleep(0)  # behind schedule: still let the producer's sender task run
            delivery = await producer.send(message_topic, value, key=key)
            delivery.add_done_callback(progress.on_delivery)
            progress.sent += 1
            progress.maybe_log(loop.time() - start)
        await producer.flush()
    finally:
        await asyncio.shield(producer.stop())  # flushes what is queued, also when cancelled
        elapsed_s = loop.time() - start
        log.info("sent %d messages in %.1f s (%d failed)", progress.sent, elapsed_s, progress.failed)
    return progress.sent


class _Progress:
    """Counts sent and failed messages and logs one line every few seconds."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.sent = 0
        self.failed = 0
        self._next_log_s = _PROGRESS_EVERY_S

    def on_delivery(self, delivery: asyncio.Future[Any]) -> None:
        if not delivery.cancelled() and delivery.exception() is not None:
            if self.failed == 0:
                log.error("delivery failed: %r", delivery.exception())
            self.failed += 1

    def maybe_log(self, elapsed_s: float) -> None:
        if elapsed_s >= self._next_log_s:
            self._next_log_s = elapsed_s + _PROGRESS_EVERY_S
            log.info(
                "sent %d messages, %.0f/s (target %.0f/s), %d failed",
                self.sent,
                self.sent / elapsed_s,
                self.rate,
                self.failed,
            )
