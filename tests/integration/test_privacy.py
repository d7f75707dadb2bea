"""Issue 16 through a real worker and broker: probes built to alert carry personal data, and no
score, alert or (with ``STREAMGUARD_DEADLETTER_RAW=masked``) dead letter gives any of it back.

Hypothesis draws card numbers, phone numbers and e-mail addresses in the formats people write them
(``tests/unit/pii_factories.py``) into a transaction's ``description`` and ``merchant`` and into a
text's ``text``. The transaction is large and looks like a crypto cash-out, the text is angry: both
alert, with model-score reasons and token drivers. A malformed copy of the transaction becomes a
dead letter. Every string of every record read back (keys, values, reasons, drivers, the event
copy) is checked: no 7 digits of a secret in a row, no address. ``make test`` runs 12 examples,
``STREAMGUARD_CHAOS=1`` 40; ``STREAMGUARD_CHAOS_EXAMPLES`` sets the number directly.
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

from tests.integration.workers import (
    CHAOS,
    MODEL_DIR,
    Topics,
    WorkerProcess,
    assign_from_start,
    worker_env,
)
from tests.unit.pii_factories import Secret, leaks, strings_in, texts_with_secrets

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
]

EXAMPLES = int(os.environ.get("STREAMGUARD_CHAOS_EXAMPLES", "40" if CHAOS else "12"))
Case = tuple[str, list[Secret]]


class Probes:
    """One worker (dead letters masked) and one producer/consumer pair, kept for every example."""

    def __init__(self, broker: str, tmp: Path) -> None:
        self.topics = Topics()
        env = worker_env(broker, self.topics, STREAMGUARD_DEADLETTER_RAW="masked")
        self.worker = WorkerProcess(env, tmp / "worker.log")
        self.broker = broker
        self.runner = asyncio.Runner()
        self.records: dict[str, list[tuple[str, bytes | None, dict[str, Any]]]] = {}
        self.dead: dict[int, tuple[bytes | None, dict[str, Any]]] = {}
        self.count = 0
        self.runner.run(self._start())

    async def _start(self) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.broker, linger_ms=2)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.broker, enable_auto_commit=False, fetch_max_wait_ms=20
        )
        await self.producer.start()
        await self.consumer.start()

    async def _assign(self) -> None:
        if self.consumer.assignment():
            return
        topics = self.topics
        outputs = (
            topics.scores_transactions,
            topics.scores_texts,
            topics.alerts_fraud,
            topics.alerts_sentiment,
            topics.deadletter,
        )
        await assign_from_start(self.consumer, outputs, alive=self.worker.assert_alive)

    def send_and_read(
        self, tx: dict[str, Any], text: dict[str, Any], bad: bytes
    ) -> tuple[list[tuple[str, bytes | None, dict[str, Any]]], tuple[bytes | None, dict[str, Any]]]:
        return self.runner.run(self._send_and_read(tx, text, bad))

    async def _send_and_read(
        self, tx: dict[str, Any], text: dict[str, Any], bad: bytes
    ) -> tuple[list[tuple[str, bytes | None, dict[str, Any]]], tuple[bytes | None, dict[str, Any]]]:
        topics = self.topics
        await self.producer.send(topics.transactions, orjson.dumps(tx), key=tx["account_id"].encode())
        await self.producer.send(topics.texts, orjson.dumps(text), key=text["event_id"].encode())
        sent = await (await self.producer.send(topics.transactions, bad, key=tx["account_id"].encode()))
        await self._assign()
        ids = (tx["event_id"], text["event_id"])
        deadline = time.monotonic() + 60
        # Each probe alerts (large crypto cash-out, angry text): two records for each of the two.
        while not (all(len(self.records.get(i, ())) >= 2 for i in ids) and sent.offset in self.dead):
            assert time.monotonic() < deadline, "outputs missing after 60 s"
            self.worker.assert_alive()
            for part in (await self.consumer.getmany(timeout_ms=200)).values():
                for record in part:
                    value = orjson.loads(record.value)
                    if record.topic == topics.deadletter:
                        self.dead[value["source"]["offset"]] = (record.key, value)
                    else:
                        self.records.setdefault(value["event_id"], []).append(
                            (record.topic, record.key, value)
                        )
        return [r for i in ids for r in self.records[i]], self.dead[sent.offset]

    def close(self) -> None:
        async def stop() -> None:
            await self.producer.stop()
            await self.consumer.stop()

        self.runner.run(stop())
        self.runner.close()
        self.worker.stop()


@pytest.fixture(scope="module")
def probes(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probes]:
    running = Probes(broker, tmp_path_factory.mktemp("privacy"))
    yield running
    running.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    description=texts_with_secrets(), merchant=texts_with_secrets(max_secrets=1), text=texts_with_secrets()
)
def test_no_probe_comes_back_from_scores_alerts_or_dead_letters(
    probes: Probes, description: Case, merchant: Case, text: Case
) -> None:
    probes.count += 1
    n = probes.count
    tx = {
        "event_id": f"probe-tx-{n}",
        "account_id": f"acct-probe-{n}",
        "amount": 9000.0,
        "currency": "EUR",
        "merchant": f"CRYPTO-XCHG*TOPUP {merchant[0]}"[:256],
        "description": f"wallet top up new device {description[0]}",
        "timestamp": int(time.time() * 1000),
        "country": "NG",
        "channel": "online",
    }
    angry = {
        "event_id": f"probe-text-{n}",
        "text": f"Worst service ever, the app is broken and nobody answers. {text[0]}",
        "timestamp": int(time.time() * 1000),
    }
    bad = orjson.dumps({**tx, "amount": "lots"})  # wrong type: a dead letter holding the same probes
    found = [*description[1], *merchant[1], *text[1]]
    assert leaks(strings_in(tx), found) or leaks(strings_in(angry), found)  # the probes are there

    records, (dead_key, letter) = probes.send_and_read(tx, angry, bad)
    topics = {topic for topic, _, _ in records}
    assert topics == {
        probes.topics.scores_transactions,
        probes.topics.alerts_fraud,
        probes.topics.scores_texts,
        probes.topics.alerts_sentiment,
    }
    alerts = [value for topic, _, value in records if topic.startswith(f"{probes.topics.prefix}.alerts")]
    assert all(
        alert["reasons"][0]["drivers"] for alert in alerts if "model_score" in alert["reasons"][0]["rule"]
    )
    outputs = [s for _, key, value in records for s in (*strings_in(value), (key or b"").decode())]
    assert not leaks(outputs, found), records

    assert letter["raw_policy"] == "masked" and letter["error"]["type"] == "wrong_type"
    kept = orjson.loads(base64.b64decode(letter["raw"]))
    assert kept["amount"] == "lots" and kept["event_id"] == tx["event_id"]
    dead_outputs = [*strings_in(kept), *strings_in(letter), (dead_key or b"").decode()]
    assert not leaks(dead_outputs, found), letter
