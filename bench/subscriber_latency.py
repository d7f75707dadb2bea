"""What a subscriber's fetch wait costs on the embedded broker: delay per record and idle broker CPU.

Starts its own embedded broker (nothing else needs to run), then for each fetch wait: a consumer
built like ``streamguard tail``'s (``pipeline.tooling.tail.consumer_options``, the wait overridden) reads a
fresh 4-partition topic while records are produced one at a time at random 20-60 ms intervals
(fixed seed); each record's delay is send acknowledged -> received. Then the consumer sits idle
and the broker's CPU is sampled. Usage:

    .venv/bin/python bench/subscriber_latency.py [--records 200] [--idle-s 10] [--waits 10,100,500]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.procstat import cpu_seconds
from pipeline.kafka.topics import ensure_topics
from pipeline.tooling.broker import EmbeddedBroker
from pipeline.tooling.tail import consumer_options


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def measure(bootstrap: str, broker_pid: int, wait_ms: int, records: int, idle_s: float) -> str:
    topic = f"subscriber-{wait_ms}-{time.time_ns()}"
    await ensure_topics(bootstrap, [topic], 4)
    consumer = AIOKafkaConsumer(**{**consumer_options(bootstrap), "fetch_max_wait_ms": wait_ms})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    rng = random.Random(5)
    delays: list[float] = []
    try:
        parts = [TopicPartition(topic, p) for p in range(4)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        for i in range(records):
            await asyncio.sleep(rng.uniform(0.02, 0.06))
            await producer.send_and_wait(topic, str(i).encode(), partition=i % 4)
            sent = time.perf_counter()
            got = False
            while not got:
                for batch in (await consumer.getmany(timeout_ms=1000)).values():
                    got = got or any(r.value == str(i).encode() for r in batch)
            delays.append((time.perf_counter() - sent) * 1000)
        before, started = cpu_seconds(broker_pid) or 0.0, time.monotonic()
        idle_until = started + idle_s
        while time.monotonic() < idle_until:
            await consumer.getmany(timeout_ms=200)
        broker_cpu = ((cpu_seconds(broker_pid) or 0.0) - before) / (time.monotonic() - started) * 100
    finally:
        await producer.stop()
        await consumer.stop()
    return (
        f"| {wait_ms} | {statistics.median(delays):.1f} | {pct(delays, 95):.1f} | {pct(delays, 99):.1f} "
        f"| {broker_cpu:.0f}% |"
    )


async def main(records: int, idle_s: float, waits: list[int]) -> None:
    broker = EmbeddedBroker(port=0)
    bootstrap = broker.start()
    try:
        process = broker._process
        assert process is not None
        print("| fetch wait ms | delay p50 ms | p95 | p99 | broker CPU, consumer idle |")
        print("|---|---|---|---|---|")
        for wait_ms in waits:
            print(await measure(bootstrap, process.pid, wait_ms, records, idle_s), flush=True)
    finally:
        broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--waits", default="10,100,500")
    args = parser.parse_args()
    asyncio.run(main(args.records, args.idle_s, [int(w) for w in args.waits.split(",")]))
