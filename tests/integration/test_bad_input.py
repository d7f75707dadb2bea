"""Bad input against a real worker: every malformed message becomes a dead letter with a reason,
every good one is scored, the worker keeps running and its memory stays bounded.

Hypothesis draws batches of malformed messages (see ``malformed.py``) mixed with good events and
null keys, for each input topic (transactions, texts); each batch is checked by where it landed
(dead letters carry the source offset). ``STREAMGUARD_CHAOS=1`` (``make chaos``) runs 700 batches
per topic, at least 10,000 malformed messages each;
``STREAMGUARD_CHAOS_EXAMPLES`` sets the number of batches directly.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.synthetic.texts import generate_texts
from pipeline.synthetic.transactions import generate_transactions
from tests.integration.malformed import malformed, malformed_texts
from tests.integration.workers import (
    CHAOS,
    MODEL_DIR,
    Topics,
    WorkerProcess,
    assign_from_start,
    rss_mb,
    worker_env,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
]

EXAMPLES = int(os.environ.get("STREAMGUARD_CHAOS_EXAMPLES", "700" if CHAOS else "25"))
MIN_MALFORMED = 10_000 if CHAOS else EXAMPLES * 10


def good_events(kind: str) -> list[bytes]:
    """Valid events of one input topic, made when its pipeline starts (not at collection)."""
    if kind == "texts":
        return [orjson.dumps(text) for text in generate_texts(20_000, seed=78)]
    return [orjson.dumps(tx) for tx, _ in generate_transactions(20_000, seed=77)]


class Pipeline:
    """One worker and one producer/consumer pair, kept for every hypothesis example of one input
    topic (``kind``: transactions or texts)."""

    def __init__(self, broker: str, tmp: Path, kind: str) -> None:
        self.topics = Topics()
        self.input = getattr(self.topics, kind)
        self.scores = getattr(self.topics, f"scores_{kind}")
        self.good = iter(good_events(kind))
        self.worker = WorkerProcess(worker_env(broker, self.topics), tmp / "worker.log")
        self.runner = asyncio.Runner()
        self.broker = broker
        self.dead: dict[tuple[int, int], dict[str, Any]] = {}
        self.scored: set[str] = set()
        self.sent_bad = 0
        self.sent_good = 0
        self.runner.run(self._start())

    async def _start(self) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.broker, linger_ms=5, max_request_size=16 << 20
        )
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.broker,
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
            max_partition_fetch_bytes=16 << 20,
        )
        await self.producer.start()
        await self.consumer.start()

    async def _assign(self) -> None:
        if self.consumer.assignment():
            return
        outputs = (self.topics.deadletter, self.scores)
        await assign_from_start(self.consumer, outputs, alive=self.worker.assert_alive)

    def send_and_check(self, bad: list[bytes], n_good: int, null_keys: bool) -> None:
        good = [next(self.good) for _ in range(n_good)]
        self.runner.run(self._send_and_check(bad, good, null_keys))

    async def _send_and_check(self, bad: list[bytes], good: list[bytes], null_keys: bool) -> None:
        sends = []
        for raw in bad:
            sends.append(await self.producer.send(self.input, raw, key=None if null_keys else b"bad"))
        for raw in good:
            key = None if null_keys else orjson.loads(raw)["event_id"].encode()
            await self.producer.send(self.input, raw, key=key)
        bad_offsets = {
            (meta.partition, meta.offset): raw
            for meta, raw in zip(await asyncio.gather(*sends), bad, strict=True)
        }
        good_ids = {orjson.loads(raw)["event_id"] for raw in good}
        self.sent_bad += len(bad)
        self.sent_good += len(good)
        await self._assign()
        deadline = time.monotonic() + 60
        while not (set(bad_offsets) <= set(self.dead) and good_ids <= self.scored):
            assert time.monotonic() < deadline, "outputs missing after 60 s"
            self.worker.assert_alive()
            for part in (await self.consumer.getmany(timeout_ms=200)).values():
                for record in part:
                    value = orjson.loads(record.value)
                    if record.topic == self.topics.deadletter:
                        self.dead[(value["source"]["partition"], value["source"]["offset"])] = value
                    else:
                        self.scored.add(value["event_id"])
        for where, raw in bad_offsets.items():
            letter = self.dead[where]
            assert letter["error"]["type"] and letter["error"]["message"], letter
            assert len(letter["error"]["message"]) <= 300
            assert base64.b64decode(letter["raw"]) == raw

    def close(self) -> None:
        async def stop() -> None:
            await self.producer.stop()
            await self.consumer.stop()

        self.runner.run(stop())
        self.runner.close()
        self.worker.stop()


@pytest.fixture(scope="module")
def pipeline(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    running = Pipeline(broker, tmp_path_factory.mktemp("bad-input"), "transactions")
    yield running
    running.close()


@pytest.fixture(scope="module")
def texts_pipeline(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    running = Pipeline(broker, tmp_path_factory.mktemp("bad-texts"), "texts")
    yield running
    running.close()


BATCHES = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@BATCHES
@given(bad=st.lists(malformed, min_size=10, max_size=60), n_good=st.integers(0, 20), null_keys=st.booleans())
def test_malformed_messages_are_dead_lettered_and_good_ones_scored(
    pipeline: Pipeline, bad: list[bytes], n_good: int, null_keys: bool
) -> None:
    pipeline.send_and_check(bad, n_good, null_keys)


@BATCHES
@given(
    bad=st.lists(malformed_texts, min_size=10, max_size=60),
    n_good=st.integers(0, 20),
    null_keys=st.booleans(),
)
def test_malformed_texts_are_dead_lettered_and_good_ones_scored(
    texts_pipeline: Pipeline, bad: list[bytes], n_good: int, null_keys: bool
) -> None:
    texts_pipeline.send_and_check(bad, n_good, null_keys)


def test_the_malformed_texts_worker_took_every_batch_and_kept_running(texts_pipeline: Pipeline) -> None:
    """Runs after the texts batches (same module)."""
    print(f"\nbad texts: {texts_pipeline.sent_bad} malformed + {texts_pipeline.sent_good} good")
    assert texts_pipeline.sent_bad >= MIN_MALFORMED
    texts_pipeline.worker.assert_alive()


def test_huge_values_are_dead_lettered_losslessly_and_memory_stays_bounded(pipeline: Pipeline) -> None:
    """Runs after the hypothesis batches (same module): 5 MB values, then the worker's RSS."""
    before = rss_mb(pipeline.worker.proc.pid)
    huge = [b'{"event_id": "' + b"x" * (5 << 20) + b'"}', b"\xff" * (3 << 20)]
    pipeline.send_and_check(huge, 5, null_keys=False)
    types = {pipeline.dead[key]["error"]["type"] for key in list(pipeline.dead)[-2:]}
    assert types == {"too_large"}
    after = rss_mb(pipeline.worker.proc.pid)
    print(
        f"\nbad input: {pipeline.sent_bad} malformed + {pipeline.sent_good} good, "
        f"worker RSS {before:.0f} -> {after:.0f} MB"
    )
    assert pipeline.sent_bad >= MIN_MALFORMED
    assert after < before + 300, "memory grew by more than 300 MB"
    pipeline.worker.assert_alive()
