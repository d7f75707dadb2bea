"""Single events through the whole pipeline, one at a time, against a running worker.

For each event: produce it, wait until an independent consumer receives its score, record the
round trip (producer send -> score received) and the worker's own ``latency_ms`` (ingested ->
published). Prints p50/p95/p99 of both. Usage, with a broker and a worker running:

    STREAMGUARD_BOOTSTRAP=127.0.0.1:9092 .venv/bin/python bench/single_event_latency.py --count 500
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from pipeline.settings import load_settings
from pipeline.synthetic.transactions import generate_texts, generate_transactions


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def main(count: int, warmup: int) -> None:
    settings = load_settings()
    bootstrap = settings.bootstrap or f"127.0.0.1:{settings.broker_port}"
    txs = [tx for tx, _ in generate_transactions(count // 2 + warmup, seed=99)]
    texts = generate_texts(count // 2 + warmup, seed=99)
    events = [(settings.topic_transactions, e) for e in txs] + [(settings.topic_texts, e) for e in texts]
    events.sort(key=lambda pair: pair[1]["event_id"])  # interleave kinds deterministically

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=2, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    parts = [
        TopicPartition(t, p)
        for t in (settings.topic_scores_transactions, settings.topic_scores_texts)
        for p in consumer.partitions_for_topic(t) or ()
    ]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    while await consumer.getmany(timeout_ms=300):  # skip what is already there
        pass

    round_trips: list[float] = []
    worker_ms: list[float] = []
    try:
        for i, (topic, event) in enumerate(events[: count + warmup]):
            event = {**event, "event_id": f"lat-{time.time_ns()}-{i}"}
            started = time.perf_counter()
            await producer.send_and_wait(topic, orjson.dumps(event), key=event["event_id"].encode())
            found = None
            while found is None:
                for batch in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in batch:
                        value = orjson.loads(record.value)
                        if value["event_id"] == event["event_id"]:
                            found = value
            if i >= warmup:
                round_trips.append((time.perf_counter() - started) * 1000)
                worker_ms.append(found["latency_ms"])
    finally:
        await producer.stop()
        await consumer.stop()

    for name, values in (
        ("produce -> score received", round_trips),
        ("worker ingested -> published", worker_ms),
    ):
        print(
            f"{name:32s} n={len(values)} p50={statistics.median(values):.1f} ms "
            f"p95={pct(values, 95):.1f} ms p99={pct(values, 99):.1f} ms max={max(values):.1f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.warmup))
