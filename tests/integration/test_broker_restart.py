"""The broker restarts under a running worker: the worker survives, reconnects and scores what is
produced afterwards; nothing it acknowledged before the restart was lost.

The embedded broker keeps everything in memory, so a restart is a fresh cluster on the same port:
topics, records and the group's committed offsets are gone (the test recreates the topics, as
``streamguard run`` does at start). What the worker had acknowledged is exactly what it committed,
and every committed input must already have its score on the broker, read back before the stop.
Events still in the input topic or in flight when the broker stopped are lost with the broker's
memory (see the README); against a durable Kafka they would be consumed again.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents.worker import prepare_topics
from pipeline.settings import Settings
from pipeline.synthetic.transactions import generate_texts, generate_transactions
from pipeline.tooling.broker import EmbeddedBroker
from tests.integration.workers import (
    CHAOS,
    MODEL_DIR,
    ScoredIds,
    Topics,
    WorkerProcess,
    collect,
    keyed,
    worker_env,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
]

PARTITIONS = 2
RECOVERY_BOUND_S = 15.0
# Events sent before the restart (the worker is mid-stream when the broker stops) and after it.
# The broker stops at the first commit after SCORED_FIRST scores: at the worker's ~900 events/s,
# within a commit interval it scores ~900 more, so BEFORE leaves it mid-stream (900 did not always).
BEFORE, AFTER = (3000, 1500) if CHAOS else (2400, 300)
SCORED_FIRST = 300

Offsets = dict[tuple[str, int, int], str]  # (topic, partition, offset) -> event_id


def events(n: int, seed: int) -> list[dict[str, object]]:
    mixed = [tx for tx, _ in generate_transactions(n * 2 // 3, seed=seed)]
    mixed += generate_texts(n - len(mixed), seed=seed)
    random.Random(seed).shuffle(mixed)
    return mixed


async def produce(bootstrap: str, topics: Topics, batch: list[dict[str, object]]) -> Offsets:
    """Send every event to its input topic; returns where each one landed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sent = []
        for event in batch:
            topic = topics.transactions if "amount" in event else topics.texts
            key, value = keyed(event)
            sent.append((topic, str(event["event_id"]), await producer.send(topic, value, key=key)))
        return {(topic, (m := await fut).partition, m.offset): eid for topic, eid, fut in sent}
    finally:
        await producer.stop()


async def committed(bootstrap: str, group: str, topics: Topics) -> dict[tuple[str, int], int]:
    """The group's committed offset per input partition (what the worker acknowledged)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        found = {}
        for topic in (topics.transactions, topics.texts):
            for partition in range(PARTITIONS):
                offset = await consumer.committed(TopicPartition(topic, partition))
                found[(topic, partition)] = offset or 0
        return found
    finally:
        await consumer.stop()


def settings_of(env: dict[str, str]) -> Settings:
    """The worker's settings, read from the environment it is started with."""
    prefix = "STREAMGUARD_"
    return Settings(**{k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)})


async def test_worker_survives_a_broker_restart_and_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    topics = Topics()
    score_topics = [topics.scores_transactions, topics.scores_texts]
    first = EmbeddedBroker(port=0, log_path=tmp_path / "tansu-1.log")
    bootstrap = first.start()
    second = EmbeddedBroker(port=first.port, log_path=tmp_path / "tansu-2.log")
    env = worker_env(bootstrap, topics, STREAMGUARD_PARTITIONS=str(PARTITIONS))
    settings = settings_of(env)
    await prepare_topics(settings, bootstrap)  # before producing: no auto-created topics
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        # Before: a burst the worker is still working through when the broker goes away.
        sent = await produce(bootstrap, topics, events(BEFORE, seed=61))
        await collect(
            bootstrap, score_topics, lambda rs: len(rs) >= SCORED_FIRST, timeout_s=180, settle_s=0,
            alive=worker.assert_alive,
        )  # fmt: skip
        # Stop at the first commit (every second): the worker is then mid-stream with something acked.
        deadline = time.monotonic() + 60
        while not any((acked := await committed(bootstrap, env["STREAMGUARD_APP_ID"], topics)).values()):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        # Commits follow confirmed outputs, so every acknowledged event's score is already there.
        scored_before = ScoredIds(set())
        await collect(bootstrap, score_topics, scored_before, timeout_s=3, settle_s=0)
        first.stop()
        stopped_at = time.monotonic()

        acknowledged = {eid for (topic, p, offset), eid in sent.items() if offset < acked[(topic, p)]}
        lost = acknowledged - set(scored_before.counts)
        print(
            f"\nbroker restart: {len(sent)} events before the stop, {len(acknowledged)} acknowledged "
            f"by the worker, {len(scored_before.counts)} scores read back, "
            f"{len(lost)} acknowledged but unscored (lost)"
        )
        assert acknowledged, "the worker acknowledged nothing before the stop: stop later"
        assert len(acknowledged) < len(sent), "the worker was not mid-stream: stop earlier"
        assert not lost

        await asyncio.sleep(1.0)  # the outage itself (not a wait): the worker retries and loses its group
        worker.assert_alive()
        second.start()
        restarted_at = time.monotonic()
        await prepare_topics(settings, bootstrap)  # the fresh broker has no topics: as `run` does
        after = events(AFTER, seed=62)
        sent_after = await produce(bootstrap, topics, after)
        expected = {str(e["event_id"]) for e in after}
        ends: dict[tuple[str, int], int] = {}
        for topic, partition, offset in sent_after:
            ends[(topic, partition)] = max(ends.get((topic, partition), 0), offset + 1)

        # The worker commits an input only once the broker confirmed its score: every new input
        # committed means every new event was scored and published.
        group = env["STREAMGUARD_APP_ID"]
        while True:
            acked_after = await committed(bootstrap, group, topics)
            # Exactly the new log's end: a stale offset committed from before the restart is larger.
            behind = {tp: end for tp, end in ends.items() if acked_after.get(tp, 0) != end}
            if not behind or time.monotonic() - restarted_at > 120:
                break
            worker.assert_alive()
            await asyncio.sleep(0.25)
        recovery_s = time.monotonic() - restarted_at
        scored_after = ScoredIds(expected)
        await collect(bootstrap, score_topics, scored_after, timeout_s=10, settle_s=0)
        readable = expected & scored_after.counts.keys()
        committed_state = f"{len(behind)} partition(s) not committed" if behind else "all committed"
        print(
            f"broker restart: down {restarted_at - stopped_at:.1f} s; after the restart "
            f"{len(expected)} new events, {committed_state} after {recovery_s:.1f} s, "
            f"{len(readable)} of their scores readable, "
            f"{sum(scored_after.counts.values()) - len(scored_after.counts)} duplicates"
        )
        assert not behind, f"new inputs not acknowledged after 120 s: {behind} vs {acked_after}"
        assert recovery_s < RECOVERY_BOUND_S
        # Every new event was scored and its score confirmed (committed above). Not every confirmed
        # score is readable: right after its restart Tansu can lose records written while topics are
        # recreated under a producer ("AlreadyExists ... 00000000000000000000.batch" in its log, and
        # UnknownError to the producer, which sends again). Most runs read all of them back; one in a
        # fresh clone's `make test` did not.
        assert readable
        if CHAOS:
            assert len(readable) >= 0.9 * len(expected)
        worker.assert_alive()
    finally:
        worker.stop()
        second.stop()
        first.stop()
