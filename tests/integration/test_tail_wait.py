"""`streamguard tail` receives a record soon after it is published: its short fetch wait holds.

With a client's default 500 ms fetch wait the embedded broker delivered each record ~200 ms late
(`bench/subscriber_latency.py`); the bound here is generous, a median over 20 records.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from pipeline.kafka.topics import ensure_topics
from pipeline.tooling import tail as tail_module

pytestmark = pytest.mark.integration


async def test_tail_prints_a_record_well_within_the_default_fetch_wait(
    broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = "tail-wait-" + uuid.uuid4().hex[:8]
    await ensure_topics(broker, [topic], partitions=2)
    printed: dict[bytes, float] = {}
    original = tail_module._print_record

    def print_record(console: Any, topic: str, value: bytes | None, raw: bool) -> None:
        printed[value or b""] = time.perf_counter()
        original(console, topic, value, raw)

    monkeypatch.setattr(tail_module, "_print_record", print_record)
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=0)
    await producer.start()
    tailing = asyncio.create_task(tail_module.tail(broker, topic, from_beginning=True, raw=True))

    async def delay_of(value: bytes) -> float:
        await producer.send_and_wait(topic, value)
        sent = time.perf_counter()
        async with asyncio.timeout(10):
            while value not in printed:
                await asyncio.sleep(0.001)
        return (printed[value] - sent) * 1000

    try:
        await delay_of(b'{"event_id": "ready"}')  # the tail has its partitions and is polling
        delays = []
        for i in range(20):
            await asyncio.sleep(0.03)  # a record now and then, as alerts arrive
            delays.append(await delay_of(orjson.dumps({"event_id": f"e{i}", "score": 0.9})))
    finally:
        tailing.cancel()
        await asyncio.gather(tailing, return_exceptions=True)
        await producer.stop()
    print(f"\ntail delay after publication: median {statistics.median(delays):.1f} ms, max {max(delays):.1f}")
    assert statistics.median(delays) < 100
