"""Floors at a rate: ``python -m bench.relay [--model]``, the bench's ``relay`` and
``model_relay`` systems.

A raw aiokafka relay in a process of its own: a group consumer on our input topics, with the
worker's fetch wait, hands every event straight back as a score-shaped record (the event id and
the two timestamps the collector splits the latency at). Run through the same load generator,
collector and broker as the systems, at the same rates:

- ``relay``: no validation, model or rules. What the broker and the harness alone cost at each
  rate: no consumer-producer service on this machine can have a lower latency there.
- ``model_relay`` (``--model``): each event is also validated and run through its served model,
  alone, on the event loop (``bench.floors.mixed_scorer``), with ``STREAMGUARD_MODEL_CACHE_SIZE``
  texts cached per model (the bench sets 0, as for the model floor and the headline worker): no
  Faust, no batching, no thread hand-offs, nothing published but the timestamps. What scoring events
  one at a time costs at best; our worker pays more per event, and batching is what lets it keep up.

Values without an ``event_id`` are skipped: the bench sends none.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.schedule import BenchEvent
from pipeline.kafka.security import aiokafka_security
from pipeline.settings import Settings, load_settings

Scorer = Callable[[Sequence[BenchEvent]], None]


def event_id_of(value: bytes | None) -> str | None:
    """The event's id; ``None`` for a value without one."""
    try:
        return str(orjson.loads(value or b"")["event_id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


def relayed(event_id: str, ingested_ms: float) -> bytes:
    """The score-shaped record of one event, published now."""
    stamps = {"ingested": ingested_ms, "published": time.time() * 1000.0}
    return orjson.dumps({"event_id": event_id, "timestamps": stamps})


async def relay(settings: Settings, scorer: Scorer | None = None) -> None:
    bootstrap = settings.client_bootstrap
    security = aiokafka_security(settings)
    # Input topic -> (the kind of its events, where their scores go).
    routes = {
        settings.topic_transactions: ("transaction", settings.topic_scores_transactions),
        settings.topic_texts: ("text", settings.topic_scores_texts),
    }
    consumer = AIOKafkaConsumer(
        *routes,
        bootstrap_servers=bootstrap,
        group_id=settings.app_id,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=int(settings.session_timeout_s * 1000),
        heartbeat_interval_ms=int(settings.heartbeat_interval_s * 1000),
        **security,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, **security)
    await producer.start()
    await consumer.start()
    try:
        while True:
            fetched = await consumer.getmany(timeout_ms=1000)
            ingested_ms = time.time() * 1000.0
            for tp, records in fetched.items():
                kind, scores_topic = routes[tp.topic]
                for record in records:
                    event_id = event_id_of(record.value)
                    if event_id is None:
                        continue
                    key = event_id.encode()
                    if scorer is not None:
                        scorer([BenchEvent(kind, event_id, record.value or b"", key)])
                    await producer.send(scores_topic, relayed(event_id, ingested_ms), key=key)
    finally:
        await consumer.stop()
        await producer.stop()


def main(argv: Sequence[str] = sys.argv[1:]) -> None:
    settings = load_settings()
    scorer = None
    if "--model" in argv:
        from bench.floors import mixed_scorer

        scorer = mixed_scorer(settings, [], None, cache_size=settings.model_cache_size)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(relay(settings, scorer))


if __name__ == "__main__":
    main()
