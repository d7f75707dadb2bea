"""Small aiokafka helpers for integration tests: produce a list, consume everything from the start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

Headers = list[tuple[str, bytes]]


async def produce_many(
    bootstrap: str,
    topic: str,
    messages: list[tuple[bytes | None, bytes]],
    *,
    headers: Headers | None = None,
    security: Mapping[str, Any] | None = None,
) -> None:
    """Send (key, value) pairs, each with ``headers`` if given, and wait until all are acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **(security or {}))
    await producer.start()
    try:
        deliveries = [await producer.send(topic, value, key=key, headers=headers) for key, value in messages]
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


async def consume_all(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout_s: float,
    *,
    security: Mapping[str, Any] | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Records of ``topic`` from the earliest offset, without a group, until ``expected`` or timeout.

    Returns what arrived (possibly fewer than ``expected``: assert on the length).
    """
    deadline = time.monotonic() + timeout_s
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        **(security or {}),
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        partitions: set[int] | None = None
        while not partitions:  # the topic may be created by the code under test a moment later
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                if time.monotonic() > deadline:
                    return records
                await asyncio.sleep(0.05)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        while len(records) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records
