"""Start one StreamGuard worker: topics, models, warm-up, Faust agents, lanes."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn

import faust
from mode import Service

from agents.app import create_app
from agents.overrides.gaps import GapGuard
from agents.overrides.offsets import LogRestartGuard
from agents.score_agents import ScoringWiring
from agents.velocity_table import VelocityTable, changelog_topic
from agents.web import Readiness, WebServer, install_web_server
from pipeline.errors import StreamGuardError
from pipeline.hotpath.artefacts import serving_model_path
from pipeline.hotpath.fallback import TokenWeightFallback
from pipeline.hotpath.inference import GpuOptions, OnnxClassifier, onnxruntime_module
from pipeline.kafka.security import aiokafka_security
from pipeline.kafka.topics import ensure_topics, wait_for_broker
from pipeline.observability.live import LiveState
from pipeline.observability.metrics import Metrics
from pipeline.records.rules import Rules
from pipeline.records.scorers import FraudScorer, SentimentScorer
from pipeline.settings import Settings
from schemas import TextEvent, Transaction

log = logging.getLogger(__name__)
# At import, not at the first model load: without an ONNX Runtime the worker stops before it joins
# its group, with one line naming the extra to install.
onnxruntime_module()

# How long a stopping worker waits for in-flight batches to be published and acknowledged.
_DRAIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Worker:
    app: faust.App
    wirings: tuple[ScoringWiring[Any], ...]
    executors: tuple[ThreadPoolExecutor, ...]
    metrics: Metrics
    web: WebServer
    live: LiveState

    def shutdown_executors(self) -> None:
        for executor in self.executors:
            executor.shutdown(wait=False, cancel_futures=True)


def build_worker(settings: Settings, bootstrap: str, *, transaction_partitions: int | None = None) -> Worker:
    """Load and warm up the models, then wire the Faust app. Blocking; call before the loop runs.

    ``transaction_partitions``: what ``prepare_topics`` found (default: the configured count).
    """
    readiness = Readiness("models loaded", "lanes running")
    fraud_model, fraud_warm = _load_and_warm_up(settings, "fraud", settings.fraud_model)
    sentiment_model, sentiment_warm = _load_and_warm_up(settings, "sentiment", settings.sentiment_model)
    readiness.set("models loaded")

    rules = Rules.from_settings(settings)
    metrics = Metrics()
    live = LiveState()
    executors = _inference_executors(settings, lanes=2)
    app = create_app(settings, bootstrap)
    velocity = VelocityTable(app, settings, transaction_partitions or settings.partitions)
    lanes: tuple[tuple[str, type[Any], Any, dict[int, float], Callable[[Any], Any] | None], ...] = (
        (
            settings.topic_transactions,
            Transaction,
            FraudScorer(fraud_model, rules, settings),
            fraud_warm,
            velocity.enrich,
        ),
        (
            settings.topic_texts,
            TextEvent,
            SentimentScorer(sentiment_model, rules, settings),
            sentiment_warm,
            None,
        ),
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
            enrich=enrich,
            fallback=_fallback(settings, scorer.kind),
        )
        for (topic, model_cls, scorer, warm_up_ms, enrich), executor in zip(lanes, executors, strict=True)
    )

    class Lanes(LaneRunner):  # Faust instantiates extra services itself, with the app's loop
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(wirings, readiness, **kwargs)

    app.service(Lanes)
    # rewinds partitions a broker restart emptied
    security = aiokafka_security(settings)
    app.add_dependency(LogRestartGuard(app, bootstrap, security=security, metrics=metrics))
    # reads again the input records that were fetched but never reached an agent
    app.add_dependency(GapGuard(app, bootstrap, security=security, metrics=metrics))
    web = install_web_server(app, settings, metrics, readiness, live)
    return Worker(app, wirings, tuple(dict.fromkeys(executors)), metrics, web, live)


def _inference_executors(settings: Settings, *, lanes: int) -> list[ThreadPoolExecutor]:
    """The thread each lane runs its model on: one per lane, or one that the lanes take turns on.

    A single text or a small batch hardly gains from onnxruntime's intra-op threads (measured on
    the bench's texts, quiet machine: 299 texts/s with 1 thread, 276 with 2), whereas two lanes on
    their own threads use both cores at once.
    """
    if settings.inference_per_lane:
        return [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"inference_{i}") for i in range(lanes)]
    shared = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
    return [shared] * lanes


class ServiceWorker(faust.Worker):
    """``faust.Worker`` without the terminal spinner.

    At log levels of WARNING and above, Faust's worker hangs a spinner handler on the root logger and
    sets the root to DEBUG, so every debug call of aiokafka and Faust (several per record sent) built
    a log record only to drop it: 8% of the event loop's time at 300 events/s (py-spy).
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None


class LaneRunner(Service):
    """Runs the lanes with the app; on stop, drains them before the consumer commits.

    A lane that dies ends the worker process at once, with a non-zero status, instead of leaving
    a process that answers /healthz but scores nothing: a supervisor restarts it and the events
    not acknowledged are consumed again. At once, not through Faust's stop: after a crash, that
    stop was seen to hang in the consumer's shutdown (until a watchdog ended it after 30 s) or to
    fail flushing a producer already stopped; in one CI run the worker started after it scored
    nothing for 15 minutes (why was not pinned down). Ending at once leaves the broker in the
    state a killed worker leaves it in (a member that stops heartbeating), which the crash,
    fail-over and chaos tests cover. Nothing is lost: offsets are committed only up to
    acknowledged events.
    """

    def __init__(
        self,
        wirings: Sequence[ScoringWiring[Any]],
        readiness: Readiness,
        *,
        exit_on_failure: bool = True,
        **kwargs: Any,
    ) -> None:
        """``exit_on_failure``: end the process when a lane dies (False: crash the service tree
        only; for a runner that is not the process's own)."""
        super().__init__(**kwargs)
        self.wirings = tuple(wirings)
        self.readiness = readiness
        self.exit_on_failure = exit_on_failure

    async def on_start(self) -> None:
        for wiring in self.wirings:
            self.add_future(wiring.lane.run_or_fail(self._lane_failed))
        self.readiness.set("lanes running")

    async def _lane_failed(self, reason: BaseException) -> None:
        self.readiness.set("lanes running", False)
        if self.exit_on_failure:
            exit_process(failure_exit_status(reason))
        await self.crash(reason)

    async def on_stop(self) -> None:
        self.readiness.set("lanes running", False)
        for wiring in self.wirings:
            await wiring.lane.stop()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(w.drain() for w in self.wirings)), timeout=_DRAIN_TIMEOUT_S
            )
        except TimeoutError:
            log.warning("stopped with batches still unconfirmed: they stay unacknowledged")


def failure_exit_status(reason: BaseException) -> int:
    """The status a worker whose lane died by ``reason`` exits with, as ``pipeline.cli`` maps our
    errors: 2 when a restart cannot help (an error of ours that is not retriable), else 1."""
    if isinstance(reason, StreamGuardError) and not reason.retriable:
        return 2
    return 1


def exit_process(status: int) -> NoReturn:
    """End the process now: no stop of the service tree, no commit, no goodbye to the group."""
    log.critical("exiting with status %d; the events not acknowledged will be consumed again", status)
    logging.shutdown()
    os._exit(status)


def _fallback(settings: Settings, kind: str) -> Callable[..., Any] | None:
    """The cheap scorer an overloaded lane uses under STREAMGUARD_OVERLOAD_POLICY=shed."""
    if settings.overload_policy != "shed":
        return None
    name = settings.fraud_model if kind == "fraud" else settings.sentiment_model
    path = serving_model_path(settings.model_dir, name, kind)
    return TokenWeightFallback.load(path, max_tokens=settings.max_tokens).predict


def _load_and_warm_up(settings: Settings, kind: str, name: str) -> tuple[OnnxClassifier, dict[int, float]]:
    model = OnnxClassifier.load(
        serving_model_path(settings.model_dir, name, kind),
        threads=settings.inference_threads,
        max_tokens=settings.max_tokens,
        cache_size=settings.model_cache_size,
        max_rows=settings.max_batch,
        gpu=GpuOptions(device_id=settings.gpu_device, tensorrt=settings.tensorrt),
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


async def prepare_topics(settings: Settings, bootstrap: str) -> int:
    """Create missing topics; returns the partition count of the transactions topic."""
    security = aiokafka_security(settings)
    await wait_for_broker(bootstrap, timeout_s=30, security=security)
    topics = (*settings.input_topics, *settings.output_topics)
    counts = await ensure_topics(bootstrap, topics, settings.partitions, security=security)
    # The velocity table's changelog must match its source topic partition for partition (Faust
    # checks), whatever the transactions topic was created with. Compacted: it keeps the latest
    # history of every account instead of growing without end.
    partitions = counts.get(settings.topic_transactions) or settings.partitions
    await ensure_topics(
        bootstrap,
        [changelog_topic(settings)],
        partitions,
        security=security,
        config={"cleanup.policy": "compact"},
    )
    return partitions


def run_worker(settings: Settings, bootstrap: str) -> None:
    """Run a worker in this process until SIGINT/SIGTERM."""
    partitions = asyncio.run(prepare_topics(settings, bootstrap))
    worker = build_worker(settings, bootstrap, transaction_partitions=partitions)
    service = ServiceWorker(worker.app, loglevel=settings.log_level.upper(), quiet=True)
    try:
        service.execute_from_commandline()
    except SystemExit:
        # mode exits 1 after any crash. A crash of ours (an output the broker never confirmed)
        # knows whether a restart can help: ``pipeline.cli`` turns its ``retriable`` into 1 or 2.
        if isinstance(service.crash_reason, StreamGuardError):
            raise service.crash_reason from None
        raise
    finally:
        worker.shutdown_executors()
