"""A dead letter the broker never takes: the worker fails loudly instead of stalling silently.

Before, the undelivered dead letter was neither retried nor reported; its input stayed
unacknowledged, so its partition's commits stopped without a log line or a metric.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from pipeline.kafka.topics import ensure_topics
from pipeline.synthetic.transactions import generate_transactions
from tests.integration.workers import (
    MODEL_DIR,
    WORKER_PARTITIONS,
    Topics,
    WorkerProcess,
    collect,
    values,
    worker_env,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
]

BEFORE = 50  # valid transactions ahead of the malformed message on partition 0


async def produce_to_partition(broker: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=5)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, value, partition=0) for value in values])
    finally:
        await producer.stop()


async def committed(broker: str, group: str, tp: TopicPartition) -> int | None:
    """The group's committed offset of ``tp``, read without joining the group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(tp)
        return offset
    finally:
        await consumer.stop()


async def test_an_undeliverable_dead_letter_stops_the_worker_and_holds_the_commit(
    broker: str, tmp_path: Path
) -> None:
    topics = Topics()
    txs = [tx for tx, _ in generate_transactions(2 * BEFORE, seed=53)]
    tp = TopicPartition(topics.transactions, 0)
    await ensure_topics(broker, [topics.transactions], WORKER_PARTITIONS)
    env = worker_env(broker, topics)
    group = env["STREAMGUARD_APP_ID"]
    worker = WorkerProcess(
        env, tmp_path / "undeliverable.log", module=("tests.integration.undeliverable_worker",)
    )
    try:
        # Offsets 0-49 are scored and committed first, so the commit is known to reach the
        # malformed message at offset 50 (and, below, to stop there).
        await produce_to_partition(broker, topics.transactions, [orjson.dumps(tx) for tx in txs[:BEFORE]])
        deadline = time.monotonic() + 180
        while await committed(broker, group, tp) != BEFORE:
            worker.assert_alive()
            assert time.monotonic() < deadline, "the first 50 transactions were never committed"
            await asyncio.sleep(0.5)
        await produce_to_partition(
            broker, topics.transactions, [b"{not json", *(orjson.dumps(tx) for tx in txs[BEFORE:])]
        )
        returncode = await asyncio.to_thread(worker.proc.wait, 120)
    finally:
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    print(f"\nundeliverable dead letter: worker exited with {returncode}")
    # Not retriable (the producer will never take it): exit 2, a restart alone will not help.
    assert returncode == 2, log[-3000:]
    cause = f"the dead letter of {topics.transactions}-0@{BEFORE} was not delivered after 3 attempt(s)"
    assert f'lane fraud failed: PublishError("{cause}' in log, log[-3000:]
    assert "MessageSizeTooLargeError" in log and log.count("sending it again in") == 2, log[-3000:]
    # The later transactions were acknowledged, but the commit never passed the dead letter.
    assert await committed(broker, group, tp) == BEFORE

    # A worker whose producer takes dead letters consumes the partition again from there: the dead
    # letter is delivered and the transactions after it are scored again (at-least-once).
    restarted = WorkerProcess(worker_env(broker, topics), tmp_path / "worker-2.log")
    later = {str(tx["event_id"]) for tx in txs[BEFORE:]}

    def scored_again(records: list[ConsumerRecord]) -> bool:
        counts = Counter(str(orjson.loads(r.value)["event_id"]) for r in records)
        return all(counts[event_id] >= 2 for event_id in later)

    try:
        dead = values(
            await collect(
                broker,
                [topics.deadletter],
                lambda rs: len(rs) >= 1,
                timeout_s=120,
                alive=restarted.assert_alive,
            )
        )
        rescored = await collect(
            broker, [topics.scores_transactions], scored_again, timeout_s=60, alive=restarted.assert_alive
        )
    finally:
        restarted.stop()
    # At-least-once allows offset 50 to be dead-lettered twice, and it was: about 1 run in 4 (CI
    # among them) got two identical dead letters. Which path re-read it was not pinned down; the restarted
    # worker's warnings are printed below when it happens. What must hold: every dead letter is of
    # offset 50, and there is one.
    print(f"dead letters of offset {BEFORE}: {len(dead)}")
    if len(dead) > 1:
        log_2 = restarted.log_path.read_text(errors="replace").splitlines()
        print("\n".join(line for line in log_2 if "WARNING" in line or "ERROR" in line))
    assert dead, "the dead letter was never delivered"
    assert {orjson.dumps(d["source"]) for d in dead} == {
        orjson.dumps({"topic": topics.transactions, "partition": 0, "offset": BEFORE})
    }
    assert scored_again(rescored)
    assert {str(v["event_id"]) for v in values(rescored)} == {str(tx["event_id"]) for tx in txs}
