"""The Faust agents in memory (``test_context()``), with the real models and an in-memory producer.

Every message put on an agent ends as exactly one score (plus maybe an alert) or one dead letter,
and is acknowledged only after its outputs are delivered.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from agents.app import create_app
from agents.score_agents import ScoringWiring
from pipeline.errors import PublishError
from pipeline.hotpath import lane as lane_module
from pipeline.hotpath.artefacts import is_built, model_path
from pipeline.hotpath.inference import OnnxClassifier
from pipeline.observability.metrics import Metrics
from pipeline.records.rules import Rules
from pipeline.records.scorers import FraudScorer, SentimentScorer
from pipeline.settings import Settings
from pipeline.synthetic.transactions import generate_texts, generate_transactions
from pipeline.tooling.demo import MALFORMED_KINDS, malformed_message
from schemas import TextEvent, Transaction
from tests.integration.workers import MODEL_DIR

pytestmark = pytest.mark.skipif(
    not (is_built(MODEL_DIR, "fraud") and is_built(MODEL_DIR, "sentiment")),
    reason="models not built: run `make models`",
)


class MemoryProducer:
    """Stands in for the broker: keeps records; deliveries complete when ``confirm`` says so."""

    def __init__(self, confirm: bool = True) -> None:
        self.records: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]] = []
        self.pending: list[asyncio.Future[None]] = []
        self.confirm = confirm

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> Awaitable[Any]:
        self.records.append((topic, key, value, headers))
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.confirm:
            delivered.set_result(None)
        else:
            self.pending.append(delivered)
        return delivered

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(value) for t, _, value, _ in self.records if t == topic]


class RefusingProducer(MemoryProducer):
    """The broker never takes a record for ``topic``: the delivery fails with ``error``, or with
    ``at_once`` the send itself raises it (as aiokafka does for a record over its size limit)."""

    def __init__(self, topic: str, error: Exception, *, at_once: bool = False) -> None:
        super().__init__()
        self.topic, self.error, self.at_once = topic, error, at_once

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> Awaitable[Any]:
        if topic != self.topic:
            return await super().send(topic, key, value, headers)
        self.records.append((topic, key, value, headers))
        if self.at_once:
            raise self.error
        refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        refused.set_exception(self.error)
        return refused


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(model_dir=MODEL_DIR, sla_ms=50.0)


@pytest.fixture(scope="module")
def models(settings: Settings) -> dict[str, OnnxClassifier]:
    return {
        kind: OnnxClassifier.load(model_path(MODEL_DIR, kind), threads=2) for kind in ("fraud", "sentiment")
    }


@pytest.fixture
def wirings() -> Iterator[list[ScoringWiring[Any]]]:
    made: list[ScoringWiring[Any]] = []
    yield made
    for wiring in made:
        # test_context() never starts the consumer thread, so its private loop is never closed.
        thread = getattr(wiring.app.consumer, "_thread", None)
        if thread is not None and not thread.thread_loop.is_closed():
            thread.thread_loop.close()


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
    yield pool
    pool.shutdown()


def wiring_for(
    kind: str,
    settings: Settings,
    models: dict[str, OnnxClassifier],
    executor: ThreadPoolExecutor,
    producer: MemoryProducer,
    made: list[ScoringWiring[Any]],
    metrics: Metrics | None = None,
) -> ScoringWiring[Any]:
    made.append(_wiring(kind, settings, models, executor, producer, metrics))
    return made[-1]


def _wiring(
    kind: str,
    settings: Settings,
    models: dict[str, OnnxClassifier],
    executor: ThreadPoolExecutor,
    producer: MemoryProducer,
    metrics: Metrics | None,
) -> ScoringWiring[Any]:
    app = create_app(settings, "127.0.0.1:1")  # never connects: the producer is in memory
    rules = Rules.from_settings(settings)
    if kind == "fraud":
        return ScoringWiring(
            app,
            settings,
            topic=settings.topic_transactions,
            model_cls=Transaction,
            scorer=FraudScorer(models["fraud"], rules, settings),
            executor=executor,
            warm_up_ms={},
            publisher=producer,
            metrics=metrics,
        )
    return ScoringWiring(
        app,
        settings,
        topic=settings.topic_texts,
        model_cls=TextEvent,
        scorer=SentimentScorer(models["sentiment"], rules, settings),
        executor=executor,
        warm_up_ms={},
        publisher=producer,
        metrics=metrics,
    )


async def wait_for(condition: Any, timeout: float = 20.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


async def test_transactions_agent_scores_valid_and_dead_letters_malformed(
    settings: Settings,
    models: dict[str, OnnxClassifier],
    executor: ThreadPoolExecutor,
    wirings: list[ScoringWiring[Any]],
) -> None:
    producer = MemoryProducer()
    metrics = Metrics()
    wiring = wiring_for("fraud", settings, models, executor, producer, wirings, metrics)
    txs = [tx for tx, _ in generate_transactions(60, seed=5, fraud_rate=0.2)]
    rng = random.Random(1)
    bad = [malformed_message(kind, rng) for kind in MALFORMED_KINDS]
    lane = asyncio.create_task(wiring.lane.run())
    events = []
    async with wiring.agent.test_context() as agent:
        for tx in txs:
            events.append(await agent.put(orjson.dumps(tx), key=tx["event_id"].encode(), wait=False))
        for raw in bad:
            events.append(await agent.put(raw, key=None, wait=False))
        await wait_for(lambda: all(e.message.acked for e in events))
    await wiring.lane.stop()
    await lane

    scores = producer.on(settings.topic_scores_transactions)
    assert sorted(s["event_id"] for s in scores) == sorted(tx["event_id"] for tx in txs)
    assert all(s["kind"] == "fraud" and s["label"] in ("fraud", "legit") for s in scores)
    dead = producer.on(settings.topic_deadletter)
    assert len(dead) == len(bad)
    assert {d["error"]["type"] for d in dead} >= {"not_json", "not_utf8", "missing_field"}
    alerts = producer.on(settings.topic_alerts_fraud)
    over = {s["event_id"] for s in scores if s["score"] >= settings.fraud_threshold}
    assert over <= {a["event_id"] for a in alerts}

    # The metrics tell the same story as the records.
    def sample(metric: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(metric, labels) or 0.0

    topic = settings.topic_transactions
    assert sample("streamguard_events_consumed_total", topic=topic) == len(txs) + len(bad)
    assert sample("streamguard_scores_total", kind="fraud") == len(txs)
    assert sample("streamguard_latency_ms_count", kind="fraud") == len(txs)
    assert sample("streamguard_batch_size_sum", kind="fraud") == len(txs)
    assert sample("streamguard_inference_ms_count", kind="fraud") == sample(
        "streamguard_batch_size_count", kind="fraud"
    )
    dead_by_type: dict[str, int] = {}
    for d in dead:
        dead_by_type[d["error"]["type"]] = dead_by_type.get(d["error"]["type"], 0) + 1
    for error_type, count in dead_by_type.items():
        assert sample("streamguard_dead_letters_total", topic=topic, error_type=error_type) == count
    by_severity: dict[str, int] = {}
    for a in alerts:
        by_severity[a["severity"]] = by_severity.get(a["severity"], 0) + 1
    for severity, count in by_severity.items():
        assert sample("streamguard_alerts_total", kind="fraud", severity=severity) == count
    misses = sum(not s["sla_met"] for s in scores)
    assert sample("streamguard_sla_misses_total", kind="fraud") == misses
    assert sample("streamguard_lane_queue_depth", kind="fraud") == 0
    model = models["fraud"]
    info = {"kind": "fraud", "name": model.name, "version": model.version, "provider": model.provider}
    assert sample("streamguard_model_info", **info) == 1


async def test_texts_agent_alerts_on_clearly_negative_text(
    settings: Settings,
    models: dict[str, OnnxClassifier],
    executor: ThreadPoolExecutor,
    wirings: list[ScoringWiring[Any]],
) -> None:
    producer = MemoryProducer()
    wiring = wiring_for("sentiment", settings, models, executor, producer, wirings)
    angry = {
        "event_id": "angry-1",
        "text": "Worst service ever. The app is down again, I am furious and cancelling my account.",
        "timestamp": "2026-11-22T10:00:00Z",
        "source": "support_ticket",
        "author": "jane.doe@example.com",
    }
    texts = [*generate_texts(30, seed=9), angry]
    lane = asyncio.create_task(wiring.lane.run())
    async with wiring.agent.test_context() as agent:
        events = [await agent.put(orjson.dumps(t), key=t["event_id"].encode(), wait=False) for t in texts]
        await wait_for(lambda: all(e.message.acked for e in events))
    await wiring.lane.stop()
    await lane

    scores = {s["event_id"]: s for s in producer.on(settings.topic_scores_texts)}
    assert set(scores) == {t["event_id"] for t in texts}
    assert scores["angry-1"]["label"] == "negative"
    alerts = {a["event_id"]: a for a in producer.on(settings.topic_alerts_sentiment)}
    angry = alerts["angry-1"]
    assert angry["reasons"] and angry["event"]["text"].startswith("Worst service")
    assert "jane.doe@example.com" not in orjson.dumps(angry).decode()  # PII masked


async def test_no_ack_before_delivery_is_confirmed(
    settings: Settings,
    models: dict[str, OnnxClassifier],
    executor: ThreadPoolExecutor,
    wirings: list[ScoringWiring[Any]],
) -> None:
    producer = MemoryProducer(confirm=False)
    wiring = wiring_for("sentiment", settings, models, executor, producer, wirings)
    lane = asyncio.create_task(wiring.lane.run())
    text = generate_texts(1, seed=2)[0]
    async with wiring.agent.test_context() as agent:
        good = await agent.put(orjson.dumps(text), key=b"k", wait=False)
        bad = await agent.put(b"\xff\xfe not utf-8", key=None, wait=False)
        await wait_for(lambda: len(producer.records) >= 2)
        await asyncio.sleep(0.1)
        assert not good.message.acked and not bad.message.acked
        for delivered in producer.pending:
            delivered.set_result(None)
        await wait_for(lambda: good.message.acked and bad.message.acked)
    await wiring.lane.stop()
    await lane


@pytest.mark.parametrize("policy", ["full", "masked", "omit"])
async def test_dead_letters_follow_the_raw_policy(
    policy: str,
    models: dict[str, OnnxClassifier],
    executor: ThreadPoolExecutor,
    wirings: list[ScoringWiring[Any]],
) -> None:
    """STREAMGUARD_DEADLETTER_RAW reaches the agent: the record and the published key follow it."""
    settings = Settings(model_dir=MODEL_DIR, sla_ms=50.0, deadletter_raw=policy)
    producer = MemoryProducer()
    wiring = wiring_for("fraud", settings, models, executor, producer, wirings)
    raw = b'{"event_id": "x", "description": "card 4111 1111 1111 1111"}'
    key = b"acct 5555 5555 5555 4444"
    lane = asyncio.create_task(wiring.lane.run())
    async with wiring.agent.test_context() as agent:
        event = await agent.put(raw, key=key, wait=False)
        await wait_for(lambda: event.message.acked)
    await wiring.lane.stop()
    await lane

    [(topic, published_key, value, _)] = producer.records
    letter = orjson.loads(value)
    assert topic == settings.topic_deadletter and letter["raw_policy"] == policy
    assert letter["error"]["type"] == "missing_field"
    kept = base64.b64decode(letter["raw"])
    if policy == "full":
        assert kept == raw and published_key == key
    elif policy == "masked":
        assert orjson.loads(kept)["description"] == "card **** **** **** 1111"
        assert published_key == b"acct **** **** **** 4444"
    else:
        assert kept == b"" and letter["key"] is None and published_key is None


@pytest.mark.parametrize(
    ("error", "at_once"),
    [(KafkaConnectionError("broker gone"), False), (MessageSizeTooLargeError("too large"), True)],
)
async def test_an_undeliverable_dead_letter_is_retried_then_fails_the_lane_loudly(
    settings: Settings,
    models: dict[str, OnnxClassifier],
    executor: ThreadPoolExecutor,
    wirings: list[ScoringWiring[Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    at_once: bool,
) -> None:
    """A dead letter the broker never confirms must not stall its partition silently: it is sent
    again, counted, and then the lane fails with the cause (the worker stops, exit code by
    ``retriable``); the input stays unacknowledged, so it is consumed again after the restart."""
    monkeypatch.setattr(lane_module, "PUBLISH_RETRY_DELAYS_S", (0.01, 0.02))
    producer = RefusingProducer(settings.topic_deadletter, error, at_once=at_once)
    metrics = Metrics()
    wiring = wiring_for("fraud", settings, models, executor, producer, wirings, metrics)
    failures: list[BaseException] = []

    async def on_failure(exc: BaseException) -> None:
        failures.append(exc)

    lane = asyncio.create_task(wiring.lane.run_or_fail(on_failure))
    tx = generate_transactions(1, seed=3)[0][0]
    async with wiring.agent.test_context() as agent:
        good = await agent.put(orjson.dumps(tx), key=b"k", wait=False)
        bad = await agent.put(b"{not json", key=None, wait=False)
        await wait_for(lambda: good.message.acked)
        await asyncio.wait_for(lane, 10)  # returns once the failure is reported
        await wiring.drain()
        assert not bad.message.acked

    assert len(failures) == 1 and isinstance(failures[0], PublishError)
    assert failures[0].__cause__ is error
    assert failures[0].retriable is error.retriable  # the worker's exit code: 1 if true, else 2
    attempts = len(producer.on(settings.topic_deadletter))
    assert attempts == 3  # the first send and one per retry delay
    assert "the dead letter of" in str(failures[0]) and repr(error) in str(failures[0])
    assert f"lane fraud failed: {failures[0]!r}" in caplog.text
    assert caplog.text.count("sending it again") == 2
    counted = metrics.registry.get_sample_value(
        "streamguard_publish_failures_total", {"topic": settings.topic_deadletter}
    )
    assert counted == attempts
    assert producer.on(settings.topic_scores_transactions)  # the valid event was scored as usual
