"""A scoring lane: bounded intake -> SLA-aware batches -> inference in a worker thread -> publish.

asyncio only (no Faust), so it is tested without a broker. The agent submits validated events;
the lane decides when a batch closes (``pipeline.hotpath.batching``), runs the model off the event loop,
hands the outputs to ``publish`` and, only once publication is confirmed, calls ``on_done`` with
the batch so the caller can acknowledge the input offsets. Nothing is acknowledged before its
outputs are delivered (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

from pipeline.errors import PublishError, StreamGuardError
from pipeline.hotpath.batching import MicroBatcher
from pipeline.hotpath.overload import ShedPolicy
from pipeline.observability.metrics import KindMetrics

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

Batch = list[tuple[T, float]]

# Waits before re-sending an output whose delivery failed (~15 s in all); then the lane fails.
PUBLISH_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)
# Batches of a lane in the executor at once. With 2, the next batch waits in the executor's queue
# while the current one runs, so a busy inference thread goes straight on to it instead of waiting
# for the event loop to hand it over (a thread wake-up: p50 ~1 / p99 6-10 ms at 300 events/s).
DISPATCH_DEPTH = 2


def now_ms() -> float:
    return time.time() * 1000.0


async def confirm_delivery(
    what: str,
    delivered: Awaitable[object],
    resend: Callable[[], Awaitable[Awaitable[object]]],
    *,
    give_up: Callable[[], bool] = lambda: False,
) -> None:
    """Wait until ``delivered`` completes; when it fails, wait the next of ``PUBLISH_RETRY_DELAYS_S``,
    ``resend`` and wait again. The policy of every output: score batches and dead letters.

    After the last retry, or at once when ``give_up()`` (the worker is stopping), raises
    ``PublishError`` from the cause, retriable when the cause is (see ``PublishError``). Sending again
    is safe: outputs are idempotent (scores keyed by event_id, deterministic alert ids, a dead letter
    names its source offset). ``what`` names the output in the log.
    """
    for attempt, delay_s in enumerate((*PUBLISH_RETRY_DELAYS_S, None), start=1):
        try:
            await delivered
            return
        except Exception as exc:
            if delay_s is None or give_up():
                raise PublishError(
                    f"{what} was not delivered after {attempt} attempt(s): {exc!r}", retriable=_retriable(exc)
                ) from exc
            # A broker restarting, a topic not yet recreated: worth another try.
            log.warning("%s was not delivered (%r); sending it again in %g s", what, exc, delay_s)
            await asyncio.sleep(delay_s)
            delivered = _send_again(resend)


async def _send_again(resend: Callable[[], Awaitable[Awaitable[object]]]) -> None:
    await (await resend())


def _retriable(exc: BaseException) -> bool:
    flag = getattr(exc, "retriable", None)
    return flag if isinstance(flag, bool) else isinstance(exc, OSError | TimeoutError)


class LaneStoppedError(StreamGuardError):
    """The lane no longer accepts events (worker shutting down); the input stays unacknowledged."""

    retriable = True


class ScoringLane(Generic[T, R]):
    """One lane per model. ``infer`` is synchronous and runs in ``executor``.

    ``publish(batch, result, scored_ms, degraded)`` hands every output to the producer and returns
    an awaitable that completes when the broker has confirmed them all; ``on_done(batch)`` then
    acknowledges the inputs. At most ``DISPATCH_DEPTH`` batches are in the executor (one running,
    the next queued) and ``max_inflight`` await confirmation at once.
    With ``shed`` and ``fallback``, a batch taken while the lane is behind (``ShedPolicy.behind``)
    is scored by ``fallback`` on the event loop instead of the model, and published ``degraded``.
    With ``metrics``, every batch's size and inference time are observed and the queue depth is
    read at each scrape.
    """

    def __init__(
        self,
        name: str,
        batcher: MicroBatcher[T],
        *,
        infer: Callable[[Sequence[T]], R],
        publish: Callable[[Batch[T], R, float, bool], Awaitable[Awaitable[object]]],
        on_done: Callable[[Batch[T]], Awaitable[None]],
        executor: Executor,
        queue_size: int,
        max_inflight: int = 8,
        clock: Callable[[], float] = now_ms,
        metrics: KindMetrics | None = None,
        shed: ShedPolicy | None = None,
        fallback: Callable[[Sequence[T]], R] | None = None,
    ) -> None:
        if (shed is None) != (fallback is None):
            raise ValueError("shed and fallback go together")
        self.name = name
        self._batcher = batcher
        self._infer = infer
        self._publish = publish
        self._on_done = on_done
        self._executor = executor
        self._clock = clock
        self._slots = asyncio.Semaphore(queue_size)
        self._inflight = asyncio.Semaphore(max_inflight)
        # Batches handed to the executor and not yet published: the next one waits in the
        # executor's queue while the current one runs (see ``_dispatch``).
        self._dispatched = asyncio.Semaphore(DISPATCH_DEPTH)
        self._processing: set[asyncio.Task[None]] = set()
        self._confirmations: set[asyncio.Task[None]] = set()
        self._arrived = asyncio.Event()
        self._stopping = False
        self._failure: BaseException | None = None
        self._metrics = metrics
        self._shed = shed
        self._fallback = fallback
        if metrics is not None:
            metrics.track_queue_depth(self.__len__)

    # -- intake ------------------------------------------------------------------------------
    async def submit(self, item: T, ingested_ms: float) -> None:
        """Queue one event; waits (backpressure) while the lane holds ``queue_size`` events."""
        self._raise_if_failed()
        if self._stopping:
            raise LaneStoppedError(f"lane {self.name} is stopping")
        await self._slots.acquire()
        self._batcher.add(item, ingested_ms)
        self._arrived.set()

    def __len__(self) -> int:
        return len(self._batcher)

    # -- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Close and process batches until ``stop``; then drain what is left."""
        try:
            while not self._stopping or len(self._batcher):
                self._raise_if_failed()
                if not len(self._batcher):
                    self._arrived.clear()
                    await self._arrived.wait()
                    continue
                if self._stopping or self._batcher.due(self._clock()):
                    await self._dispatch()
                    continue
                flush_at = self._batcher.flush_at()
                assert flush_at is not None
                self._arrived.clear()
                delay_s = max(flush_at - self._clock(), 0.0) / 1000.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), timeout=delay_s)
            while self._processing:
                await asyncio.gather(*list(self._processing))
            self._raise_if_failed()
            await self.wait_confirmed()
        except BaseException as exc:
            self._failure = self._failure or exc
            for task in self._processing:
                task.cancel()
            raise

    async def run_or_fail(self, on_failure: Callable[[BaseException], Awaitable[None]]) -> None:
        """``run``, and if the loop dies of anything but cancellation, log the cause and hand it to
        ``on_failure`` instead of raising into a task nobody awaits.

        A dead lane must not leave a worker that looks alive but scores nothing: the worker crashes
        itself in ``on_failure`` (non-zero exit), a supervisor restarts it, and every event not yet
        acknowledged is consumed again from the last committed offset.
        """
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            cause = exc.__cause__ if isinstance(exc, LaneStoppedError) and exc.__cause__ else exc
            log.critical(
                "lane %s failed: %r; stopping the worker so that it is restarted and its "
                "unacknowledged events are consumed again",
                self.name,
                cause,
                exc_info=cause,
            )
            await on_failure(cause)

    async def stop(self) -> None:
        """Stop taking events; ``run`` drains pending batches and returns."""
        self._stopping = True
        self._arrived.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def fail(self, exc: BaseException) -> None:
        """Fail the lane from outside (an output of its agent that could not be delivered): ``run``
        raises, ``run_or_fail`` reports ``exc`` and no more events are taken."""
        if self._failure is None:
            self._failure = exc
        self._arrived.set()

    async def wait_confirmed(self) -> None:
        while self._confirmations:
            await asyncio.gather(*list(self._confirmations))

    async def _dispatch(self) -> None:
        """Once fewer than ``DISPATCH_DEPTH`` batches are under way, take the next batch (all that
        is pending by then, up to the batch size) and process it in a task of its own."""
        await self._dispatched.acquire()
        task = asyncio.create_task(self._process(self._batcher.take()))
        self._processing.add(task)
        task.add_done_callback(self._processed)

    def _processed(self, task: asyncio.Task[None]) -> None:
        self._processing.discard(task)
        self._dispatched.release()
        if not task.cancelled() and (exc := task.exception()) is not None and self._failure is None:
            self._failure = exc
            self._arrived.set()  # wake ``run`` to raise it

    async def _process(self, batch: Batch[T]) -> None:
        for _ in batch:
            self._slots.release()
        items = [item for item, _ in batch]
        degraded = self._behind(batch)
        if degraded:
            assert self._fallback is not None
            result = self._fallback(items)  # microseconds per event: not worth a thread hop
        else:
            loop = asyncio.get_running_loop()
            # Timed in the thread: a batch may wait in the executor's queue behind another.
            result, inference_ms = await loop.run_in_executor(self._executor, self._timed_infer, items)
            self._batcher.estimator.observe(len(items), inference_ms)
            if self._metrics is not None:
                self._metrics.observe_batch(len(items), inference_ms)
        scored_ms = self._clock()
        await self._inflight.acquire()
        try:
            delivered = await self._publish(batch, result, scored_ms, degraded)
        except BaseException:
            self._inflight.release()
            raise
        if degraded and self._metrics is not None:
            self._metrics.observe_degraded(len(batch))
        republish = functools.partial(self._publish, batch, result, scored_ms, degraded)
        task = asyncio.create_task(self._confirm(batch, delivered, republish))
        self._confirmations.add(task)
        task.add_done_callback(self._confirmations.discard)

    def _timed_infer(self, items: Sequence[T]) -> tuple[R, float]:
        started = time.perf_counter()
        result = self._infer(items)
        return result, (time.perf_counter() - started) * 1000.0

    def _behind(self, batch: Batch[T]) -> bool:
        if self._shed is None or self._stopping:
            return False
        return self._shed.behind(
            oldest_ingested_ms=batch[0][1],
            now_ms=self._clock(),
            predicted_ms=self._batcher.estimator.predict(len(batch)),
            queued=len(self._batcher) + len(batch),
        )

    async def _confirm(
        self,
        batch: Batch[T],
        delivered: Awaitable[object],
        republish: Callable[[], Awaitable[Awaitable[object]]],
    ) -> None:
        try:
            what = f"lane {self.name}: a batch of {len(batch)}"
            await confirm_delivery(what, delivered, republish, give_up=lambda: self._stopping)
            await self._on_done(batch)
        except BaseException as exc:
            # A lost output must not be acknowledged: fail the lane so the worker stops and the
            # inputs are consumed again from the last committed offset.
            log.error("lane %s: publishing a batch of %d failed: %r", self.name, len(batch), exc)
            self._failure = exc
            self._arrived.set()
            raise
        finally:
            self._inflight.release()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise LaneStoppedError(f"lane {self.name} failed: {self._failure!r}") from self._failure
