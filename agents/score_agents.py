"""Faust agents for the two input topics: validate -> lane (batch, infer, publish) -> ack.

Wiring only: validation, batching, inference and record building live in ``pipeline``.
Every consumed message ends as a score (plus maybe an alert) or a dead letter, and its offset is
acknowledged only after those outputs are confirmed by the broker. Both kinds of output follow one
delivery policy (``pipeline.hotpath.lane.confirm_delivery``): retried, then the lane fails and the worker
stops, every failed delivery counted by topic.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import faust
import numpy as np
from faust.types import EventT, StreamT

from pipeline.errors import PublishError
from pipeline.hotpath.batching import BatchPolicy, InferenceTimeEstimator, MicroBatcher
from pipeline.hotpath.lane import Batch, LaneStoppedError, ScoringLane, confirm_delivery, now_ms
from pipeline.hotpath.overload import ShedPolicy
from pipeline.ingest.deadletter import dead_letter, dead_letter_key
from pipeline.ingest.validation import Failure, decode_event
from pipeline.observability.live import LiveState
from pipeline.observability.metrics import Metrics
from pipeline.records.scorers import Scorer
from pipeline.settings import Settings
from schemas import TextEvent, Transaction

E = TypeVar("E", Transaction, TextEvent)
log = logging.getLogger(__name__)

# Dead letters awaiting broker confirmation before their input is acknowledged.
_MAX_PENDING_DEAD_LETTERS = 1024


@dataclass(slots=True)
class InFlight(Generic[E]):
    """A validated event on its way through a lane, with what is needed to acknowledge it."""

    model: E
    event: EventT[Any]
    stream: StreamT[Any]
    context: Any = None  # what ``enrich`` looked up for the event (a transaction's velocity)


class Sender(Protocol):
    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> Awaitable[Any]:
        """Hand one record to the producer; the returned awaitable completes on delivery."""


class Publisher:
    """Hands records to the Faust app's producer; returns delivery futures."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> Awaitable[Any]:
        fut: Awaitable[Any] = await self._app.producer.send(topic, key, value, None, None, headers)
        return fut


class ScoringWiring(Generic[E]):
    """One input topic: its agent, its lane and the dead-letter path."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        *,
        topic: str,
        model_cls: type[E],
        scorer: Scorer[E],
        executor: Executor,
        warm_up_ms: dict[int, float],
        publisher: Sender | None = None,
        metrics: Metrics | None = None,
        live: LiveState | None = None,
        enrich: Callable[[E], Any] | None = None,
        fallback: Callable[[Sequence[E], Sequence[Any]], np.ndarray] | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.topic_name = topic
        self.model_cls: type[E] = model_cls
        self.scorer: Scorer[E] = scorer
        self.publisher = publisher or Publisher(app)
        self.metrics = metrics or Metrics()
        self.live = live  # the dashboard's state; fed with the same hand-offs as the metrics
        # Runs in the agent, in order, inside the event's partition context: Faust tables are
        # updated here (their changelog goes to the partition the event came from).
        self.enrich: Callable[[E], Any] | None = enrich
        self._enrich_failures = 0
        self._kind_metrics = self.metrics.kind(scorer.kind)
        self._consumed = self.metrics.consumed(topic)
        classifier = scorer.classifier
        self.metrics.set_model_info(
            scorer.kind,
            name=classifier.name,
            version=classifier.version,
            provider=classifier.provider,
            # Test doubles and other classifiers may not say.
            gpu_fallback=getattr(classifier, "gpu_fallback", None),
        )
        # Test doubles and other classifiers may keep no cache.
        for name, cache in getattr(classifier, "caches", dict)().items():
            self.metrics.track_cache(scorer.kind, name, cache)
        estimator = InferenceTimeEstimator()
        estimator.observe_many(warm_up_ms.items())
        batcher: MicroBatcher[InFlight[E]] = MicroBatcher(
            BatchPolicy(settings.max_batch, settings.sla_ms, settings.publish_margin_ms, settings.batch_mode),
            estimator,
        )
        self.lane: ScoringLane[InFlight[E], np.ndarray] = ScoringLane(
            scorer.kind,
            batcher,
            infer=self._infer,
            publish=self._publish,
            on_done=self._ack_batch,
            executor=executor,
            queue_size=settings.queue_size,
            metrics=self._kind_metrics,
            # STREAMGUARD_OVERLOAD_POLICY=shed: a lane that is behind scores with the cheap fallback.
            **self._shedding(settings, fallback),
        )
        self._dead_letter_slots = asyncio.Semaphore(_MAX_PENDING_DEAD_LETTERS)
        self._dead_letter_tasks: set[asyncio.Task[None]] = set()
        self.topic = app.topic(topic)
        self.agent = app.agent(self.topic, name=f"score-{scorer.kind}", concurrency=1)(self._consume)

    # -- the agent ---------------------------------------------------------------------------
    async def _consume(self, stream: StreamT[Any]) -> None:
        manual = stream.noack()  # type: ignore[attr-defined]  # on Stream, not in StreamT
        consumed = self._consumed
        async for event in manual.events():
            ingested = now_ms()
            consumed.inc()
            try:
                result = decode_event(
                    event.message.value, self.model_cls, max_bytes=self.settings.max_message_bytes
                )
            except Exception as exc:  # a bug in validation must not kill the agent or lose the event
                log.exception("validation crashed on %s", event.message.offset)
                result = Failure("internal_error", f"validation failed unexpectedly: {exc!r}"[:500])
            if isinstance(result, Failure):
                await self._dead_letter(result, event, manual, ingested)
            else:
                item = InFlight(result, event, manual, self._context(result))
                try:
                    await self.lane.submit(item, ingested)
                except LaneStoppedError:
                    # The lane died and the worker is ending (LaneRunner ends the process).
                    # Crashing the agent instead would have Faust restart it and pull more events
                    # meanwhile; parking leaves this one and the rest unacknowledged.
                    await asyncio.Event().wait()

    def _context(self, model: E) -> Any:
        if self.enrich is None:
            return None
        try:
            return self.enrich(model)
        except Exception:  # state is an aid to the score: without it the event is still scored
            # The first failure with its traceback; the rest would repeat it for every event.
            report = log.exception if self._enrich_failures == 0 else log.debug
            report("looking up state for %s failed; scoring it without", model.event_id)
            self._enrich_failures += 1
            return None

    # -- lane callbacks ----------------------------------------------------------------------
    def _infer(self, items: Sequence[InFlight[E]]) -> np.ndarray:
        probs: np.ndarray = self.scorer.infer(
            [item.model for item in items], [item.context for item in items]
        )
        return probs

    def _shedding(
        self, settings: Settings, fallback: Callable[[Sequence[E], Sequence[Any]], np.ndarray] | None
    ) -> dict[str, Any]:
        if settings.overload_policy != "shed" or fallback is None:
            return {}

        def score_cheaply(items: Sequence[InFlight[E]]) -> np.ndarray:
            return fallback([item.model for item in items], [item.context for item in items])

        return {"shed": ShedPolicy.for_queue(settings.sla_ms, settings.queue_size), "fallback": score_cheaply}

    async def _publish(
        self, batch: Batch[InFlight[E]], probs: np.ndarray, scored: float, degraded: bool = False
    ) -> Awaitable[Any]:
        published = now_ms()
        outputs = self.scorer.outputs
        send = self.publisher.send
        observe = self._kind_metrics.observe_outputs
        sla_ms = self.scorer.sla_ms
        live = self.live
        kind = self.scorer.kind
        deliveries = []
        topics = []
        for (item, ingested), row in zip(batch, probs, strict=True):
            outs = outputs(
                item.model,
                row,
                context=item.context,
                ingested=ingested,
                scored=scored,
                published=published,
                degraded=degraded,
            )
            for out in outs:
                deliveries.append(await send(out.topic, out.key, out.value))
                topics.append(out.topic)
            latency_ms = published - ingested
            sla_met = latency_ms <= sla_ms
            severity = outs[-1].severity
            observe(latency_ms, sla_met, severity)
            if live is not None:
                live.observe_score(latency_ms, sla_met, published)
                if severity is not None:
                    live.observe_alert(kind, severity, outs[-1].value, published)
        return asyncio.ensure_future(self._confirmed(topics, deliveries))

    async def _confirmed(self, topics: Sequence[str], deliveries: Sequence[Awaitable[Any]]) -> None:
        """Wait for every delivery; count the failed ones by topic, then raise the first failure."""
        results = await asyncio.gather(*deliveries, return_exceptions=True)
        first: BaseException | None = None
        for topic, result in zip(topics, results, strict=True):
            if isinstance(result, BaseException):
                self.metrics.observe_publish_failure(topic)
                first = first or result
        if first is not None:
            raise first

    async def _ack_batch(self, batch: Batch[InFlight[E]]) -> None:
        for item, _ in batch:
            await item.stream.ack(item.event)

    # -- dead letters ------------------------------------------------------------------------
    async def _dead_letter(
        self, failure: Failure, event: EventT[Any], stream: StreamT[Any], ingested: float
    ) -> None:
        message = event.message
        value, headers = dead_letter(
            failure,
            raw=message.value,
            key=message.key,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            received_at=ingested,
            raw_policy=self.settings.deadletter_raw,
        )
        self.metrics.observe_dead_letter(message.topic, failure.type)
        if self.live is not None:
            self.live.observe_dead_letter(failure.type, ingested)
        key = dead_letter_key(message.key, self.settings.deadletter_raw)
        send = functools.partial(self._send_dead_letter, key, value, headers)
        await self._dead_letter_slots.acquire()
        try:
            delivery = await send()
        except BaseException:
            self._dead_letter_slots.release()
            raise
        what = f"the dead letter of {message.topic}-{message.partition}@{message.offset}"
        task = asyncio.create_task(self._ack_after(what, delivery, send, event, stream))
        self._dead_letter_tasks.add(task)
        task.add_done_callback(self._dead_letter_tasks.discard)

    async def _send_dead_letter(
        self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[None]:
        """Hand a dead letter to the producer; the awaitable fails if the broker does not confirm it.
        A record the producer refuses at once (too large, no metadata) fails the same way, so it is
        retried and reported like any other failed delivery instead of killing the agent."""
        topic = self.settings.topic_deadletter
        try:
            delivery = await self.publisher.send(topic, key, value, headers)
        except Exception as exc:
            delivery = asyncio.get_running_loop().create_future()
            delivery.set_exception(exc)
        return asyncio.ensure_future(self._confirmed((topic,), (delivery,)))

    async def _ack_after(
        self,
        what: str,
        delivery: Awaitable[None],
        send: Callable[[], Awaitable[Awaitable[None]]],
        event: EventT[Any],
        stream: StreamT[Any],
    ) -> None:
        try:
            await confirm_delivery(what, delivery, send, give_up=lambda: self.lane.stopping)
            await stream.ack(event)
        except PublishError as exc:
            # Unacknowledged, the input would hold its partition's commit back for ever without a
            # word: fail the lane instead, so the worker stops (exit code by ``exc.retriable``) and
            # the input is consumed again.
            if self.lane.stopping:  # nothing will report the lane's failure any more
                log.error("%s; its input stays unacknowledged", exc)
            self.lane.fail(exc)
        finally:
            self._dead_letter_slots.release()

    async def drain(self) -> None:
        """Wait for confirmations still outstanding (used when stopping)."""
        await self.lane.wait_confirmed()
        if self._dead_letter_tasks:
            await asyncio.gather(*list(self._dead_letter_tasks), return_exceptions=True)
