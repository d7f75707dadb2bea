"""The two floors nothing built on them can beat: the broker's and the model's.

Broker floor: one event at a time through two hops (producer -> ``in`` -> relay consumer ->
producer -> ``out`` -> collector), raw aiokafka, the same fetch wait as the worker. That is the
path of a score minus the model and our code.

Model floor: onnxruntime alone on the served models, by batch size, on the benchmark's event mix
(transactions through the fraud model, texts through the sentiment model, configured as the worker
configures them: with ``inference_per_lane`` the two models run at once on two threads, as the two
lanes do). Tokenising is included (the worker pays it on every batch); building features, JSON and
Kafka are not.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.schedule import BenchEvent
from bench.stats import LatencySummary, percentile
from pipeline.kafka.topics import ensure_topics
from pipeline.settings import Settings

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


async def broker_floor(
    bootstrap: str, settings: Settings, security: Mapping[str, Any], *, count: int, warmup: int = 20
) -> LatencySummary:
    """Round trips (ms) of ``count`` events sent one at a time through two broker hops."""
    prefix = f"bench-floor-{uuid.uuid4().hex[:8]}"
    hop_in, hop_out = f"{prefix}.in", f"{prefix}.out"
    await ensure_topics(bootstrap, (hop_in, hop_out), 1, security=security)
    wait = settings.fetch_max_wait_ms
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, **security)
    relay = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=wait, **security)
    collector = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=wait, **security)
    clients: list[Any] = [producer, relay, collector]
    for client in clients:
        await client.start()
    relay.assign([TopicPartition(hop_in, 0)])
    collector.assign([TopicPartition(hop_out, 0)])
    await relay.seek_to_beginning(TopicPartition(hop_in, 0))
    await collector.seek_to_beginning(TopicPartition(hop_out, 0))

    async def forward() -> None:
        while True:
            for records in (await relay.getmany(timeout_ms=100)).values():
                for record in records:
                    await producer.send(hop_out, record.value, key=record.key)

    relaying = asyncio.create_task(forward())
    round_trips: list[float] = []
    try:
        for i in range(count + warmup):
            key = f"{prefix}-{i}".encode()
            started = time.perf_counter()
            await producer.send(hop_in, orjson.dumps({"event_id": key.decode()}), key=key)
            while not any(
                record.key == key
                for records in (await collector.getmany(timeout_ms=1000)).values()
                for record in records
            ):
                pass
            if i >= warmup:
                round_trips.append((time.perf_counter() - started) * 1000.0)
    finally:
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)
        for client in reversed(clients):
            await client.stop()
    return LatencySummary.of(round_trips)


@dataclass(frozen=True, slots=True)
class ModelFloor:
    """One batch size: batch latency (ms) and events per second of back-to-back batches."""

    batch_size: int
    p50: float
    p99: float
    throughput: float


def model_floor(
    settings: Settings,
    events: Sequence[BenchEvent],
    *,
    batches_per_size: int,
    sizes: Sequence[int] = BATCH_SIZES,
    on_batch: Callable[[], None] = lambda: None,
) -> list[ModelFloor]:
    """Times ``batches_per_size`` consecutive batches of each size, cut from ``events`` in order."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="floor-sentiment") as other_lane:
        score = mixed_scorer(settings, events, other_lane if settings.inference_per_lane else None)
        return _time_batches(score, events, batches_per_size, sizes, on_batch)


def _time_batches(
    score: Callable[[Sequence[BenchEvent]], None],
    events: Sequence[BenchEvent],
    batches_per_size: int,
    sizes: Sequence[int],
    on_batch: Callable[[], None],
) -> list[ModelFloor]:
    score(events[:8])  # first runs allocate
    floors = []
    for size in sizes:
        timings = []
        for b in range(batches_per_size):
            start = (b * size) % max(len(events) - size, 1)
            batch = events[start : start + size]
            began = time.perf_counter()
            score(batch)
            timings.append((time.perf_counter() - began) * 1000.0)
            on_batch()
        total_s = sum(timings) / 1000.0
        floors.append(
            ModelFloor(
                batch_size=size,
                p50=percentile(timings, 50),
                p99=percentile(timings, 99),
                throughput=size * len(timings) / total_s,
            )
        )
    return floors


def mixed_scorer(
    settings: Settings,
    events: Sequence[BenchEvent],
    other_lane: ThreadPoolExecutor | None,
    *,
    cache_size: int = 0,
) -> Callable[[Sequence[BenchEvent]], None]:
    """Scores a mixed batch as the worker's two lanes would (texts on ``other_lane`` while the
    transactions run, when given); model inputs of ``events`` are prepared here, before any timing,
    those of other events when first scored. ``cache_size`` 0: every event runs through the model."""
    import numpy as np

    from pipeline.hotpath.artefacts import serving_model_path
    from pipeline.hotpath.inference import OnnxClassifier
    from pipeline.ingest.validation import decode_event
    from pipeline.records.rules import Rules
    from pipeline.records.scorers import FraudScorer, SentimentScorer
    from schemas import TextEvent, Transaction

    def load(kind: str) -> OnnxClassifier:
        name = settings.fraud_model if kind == "fraud" else settings.sentiment_model
        return OnnxClassifier.load(
            serving_model_path(settings.model_dir, name, kind),
            threads=settings.inference_threads,
            max_tokens=settings.max_tokens,
            cache_size=cache_size,
        )

    rules = Rules.from_settings(settings)
    # As agents.worker loads them.
    fraud_model = load("fraud")
    fraud = FraudScorer(fraud_model, rules, settings)
    sentiment = SentimentScorer(load("sentiment"), rules, settings)
    # Feature values do not change what onnxruntime computes: zeros of the model's width keep the
    # floor independent of the feature code.
    inputs: dict[str, tuple[str, str]] = {}

    n_features = len(fraud_model.feature_names)

    def prepare(event: BenchEvent) -> tuple[str, str]:
        found = inputs.get(event.event_id)
        if found is None:
            if event.kind == "transaction":
                tx = decode_event(event.value, Transaction, max_bytes=settings.max_message_bytes)
                assert isinstance(tx, Transaction)
                found = (event.kind, fraud.model_inputs([tx])[0][0])
            else:
                text = decode_event(event.value, TextEvent, max_bytes=settings.max_message_bytes)
                assert isinstance(text, TextEvent)
                found = (event.kind, text.text)
            inputs[event.event_id] = found
        return found

    for event in events:
        prepare(event)

    def score_transactions(tx: list[str]) -> None:
        if tx:
            feats = np.zeros((len(tx), n_features), dtype=np.float32) if n_features else None
            fraud_model.predict(tx, feats)

    def score_texts(texts: list[str]) -> None:
        if texts:
            sentiment.classifier.predict(texts)

    def score(batch: Sequence[BenchEvent]) -> None:
        prepared = [prepare(event) for event in batch]  # dictionary look-ups: prepared above
        tx = [text for kind, text in prepared if kind == "transaction"]
        texts = [text for kind, text in prepared if kind == "text"]
        if other_lane is None:
            score_transactions(tx)
            score_texts(texts)
            return
        running = other_lane.submit(score_texts, texts)
        score_transactions(tx)
        running.result()

    return score
