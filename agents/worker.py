"""Start one StreamGuard worker: topics, models, warm-up, Faust agents, lanes."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faust
from mode import Service

from agents.app import create_app
from agents.scoring import ScoringWiring
from agents.web import Readiness, WebServer, install_web_server
from pipeline.inference import OnnxClassifier
from pipeline.live import LiveState
from pipeline.metrics import Metrics
from pipeline.models.registry import model_path
from pipeline.rules import Rules
from pipeline.scoring import FraudScorer, SentimentScorer
from pipeline.security import aiokafka_security
from pipeline.settings import Settings
from pipeline.topics import ensure_topics, wait_for_broker
from schemas import TextEvent, Transaction

log = logging.getLogger(__name__)

# How long a stopping worker waits for in-flight batches to be published and acknowledged.
_DRAIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Worker:
    app: faust.App
    wirings: tuple[ScoringWiring[Any], ...]
    executor: ThreadPoolExecutor
    metrics: Metrics
    web: WebServer
    live: LiveState


def build_worker(settings: Settings, bootstrap: str) -> Worker:
    """Load and warm up the models, then wire the Faust app. Blocking; call before the loop runs."""
    readiness = Readiness("models loaded", "lanes running")
    fraud_model, fraud_warm = _load_and_warm_up(settings, "fraud", batch_independent=False)
    # Dynamic int8 quantisation scales activations per batch: sentiment scores moved by up to 0.2
    # with their batch neighbours (3% of alert decisions flipped on replay). Scoring each text
    # unpadded keeps them repeatable at about the same cost for mixed-length text. Fraud scores
    # moved by < 0.003, so that model keeps true batches.
    sentiment_model, sentiment_warm = _load_and_warm_up(settings, "sentiment", batch_independent=True)
    readiness.set("models loaded")

    rules = Rules.from_settings(settings)
    metrics = Metrics()
    live = LiveState()
    # One inference thread for both lanes: two sessions running at once would fight over 2 cores.
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
    app = create_app(settings, bootstrap)
    lanes: tuple[tuple[str, type[Any], Any, dict[int, float]], ...] = (
        (settings.topic_transactions, Transaction, FraudScorer(fraud_model, rules, settings), fraud_warm),
        (settings.topic_texts, TextEvent, SentimentScorer(sentiment_model, rules, settings), sentiment_warm),
    )
    wirings: tuple[ScoringWiring[Any], ...] = tuple(
        ScoringWiring(
            app,
            settings,
            topic=topic,
            model_cls=model_cls,
            scorer=scorer,
            executor=executor,
            warm_up_ms=warm_up_ms,
            metrics=metrics,
            live=live,
        )
        for topic, model_cls, scorer, warm_up_ms in lanes
    )

    class Lanes(Service):
        """Runs the lanes with the app; on stop, drains them before the consumer commits."""

        async def on_start(self) -> None:
            for wiring in wirings:
                self.add_future(wiring.lane.run())
            readiness.set("lanes running")

        async def on_stop(self) -> None:
            readiness.set("lanes running", False)
            for wiring in wirings:
                await wiring.lane.stop()
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(w.drain() for w in wirings)), timeout=_DRAIN_TIMEOUT_S
                )
            except TimeoutError:
                log.warning("stopped with batches still unconfirmed: they stay unacknowledged")

    app.service(Lanes)
    web = install_web_server(app, settings, metrics, readiness, live)
    return Worker(app, wirings, executor, metrics, web, live)


def _load_and_warm_up(
    settings: Settings, kind: str, *, batch_independent: bool
) -> tuple[OnnxClassifier, dict[int, float]]:
    model = OnnxClassifier.load(
        model_path(settings.model_dir, kind),
        threads=settings.inference_threads,
        max_tokens=settings.max_tokens,
        batch_independent=batch_independent,
    )
    warm_up_ms = model.warm_up(settings.max_batch)
    log.info(
        "%s model %s %s on %s, warm-up ms by batch size %s",
        kind,
        model.name,
        model.version,
        model.provider,
        _fmt(warm_up_ms),
    )
    return model, warm_up_ms


def _fmt(timings: dict[int, float]) -> str:
    return ", ".join(f"B{size}={ms:.1f}" for size, ms in sorted(timings.items()))


async def prepare_topics(settings: Settings, bootstrap: str) -> None:
    security = aiokafka_security(settings)
    await wait_for_broker(bootstrap, timeout_s=30, security=security)
    topics = (*settings.input_topics, *settings.output_topics)
    await ensure_topics(bootstrap, topics, settings.partitions, security=security)


def run_worker(settings: Settings, bootstrap: str) -> None:
    """Run a worker in this process until SIGINT/SIGTERM."""
    asyncio.run(prepare_topics(settings, bootstrap))
    worker = build_worker(settings, bootstrap)
    try:
        faust.Worker(
            worker.app,
            loglevel=settings.log_level.upper(),
            quiet=True,
        ).execute_from_commandline()
    finally:
        worker.executor.shutdown(wait=False, cancel_futures=True)
