"""The lane: batches close by policy, inference runs off the loop, acks follow confirmed publication."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pipeline.errors import PublishError
from pipeline.hotpath import lane as lane_module
from pipeline.hotpath.batching import BatchPolicy, InferenceTimeEstimator, MicroBatcher
from pipeline.hotpath.lane import Batch, LaneStoppedError, ScoringLane, confirm_delivery, now_ms
from pipeline.hotpath.overload import ShedPolicy
from pipeline.observability.metrics import KindMetrics, Metrics


class Recorder:
    """Inference doubles every item; publication is confirmed when the test says so."""

    def __init__(self, auto_confirm: bool = True, fail_publish: bool | int = False) -> None:
        """``fail_publish``: True fails every delivery, a number fails the first that many."""
        self.infer_threads: list[str] = []
        self.batches: list[list[int]] = []
        self.acked: list[int] = []
        self.deliveries: list[asyncio.Future[None]] = []
        self.auto_confirm = auto_confirm
        self.fail_publish = fail_publish

    def infer(self, items: Sequence[int]) -> list[int]:
        self.infer_threads.append(threading.current_thread().name)
        return [2 * i for i in items]

    async def publish(
        self, batch: Batch[int], result: list[int], scored: float, degraded: bool
    ) -> Awaitable[object]:
        assert result == [2 * item for item, _ in batch]
        self.batches.append([item for item, _ in batch])
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_publish is True or len(self.batches) <= self.fail_publish:
            delivery.set_exception(ConnectionError("broker gone"))
        elif self.auto_confirm:
            delivery.set_result(None)
        self.deliveries.append(delivery)
        return delivery

    async def on_done(self, batch: Batch[int]) -> None:
        self.acked.extend(item for item, _ in batch)


def make_lane(
    rec: Recorder,
    executor: ThreadPoolExecutor,
    *,
    max_batch: int = 4,
    sla_ms: float = 20.0,
    queue_size: int = 100,
    **options: Any,
) -> ScoringLane[int, list[int]]:
    """``options``: the lane's optional arguments (metrics, shed, fallback)."""
    batcher: MicroBatcher[int] = MicroBatcher(BatchPolicy(max_batch, sla_ms, 1.0), InferenceTimeEstimator())
    return ScoringLane(
        "test",
        batcher,
        infer=rec.infer,
        publish=rec.publish,
        on_done=rec.on_done,
        executor=executor,
        queue_size=queue_size,
        **options,
    )


def run_reporting_failures(lane: ScoringLane[Any, Any]) -> tuple[asyncio.Task[None], list[BaseException]]:
    """Start ``lane.run_or_fail`` with a reporter that keeps every failure it is handed."""
    failures: list[BaseException] = []

    async def on_failure(exc: BaseException) -> None:
        failures.append(exc)

    return asyncio.create_task(lane.run_or_fail(on_failure)), failures


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lane_module, "PUBLISH_RETRY_DELAYS_S", (0.01, 0.02))


@pytest.fixture
def executor() -> ThreadPoolExecutor:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
    yield pool  # type: ignore[misc]
    pool.shutdown()


async def run_until(condition: object, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), timeout)


async def test_every_event_is_scored_once_in_order_and_acked(executor: ThreadPoolExecutor) -> None:
    rec = Recorder()
    lane = make_lane(rec, executor, max_batch=4)
    runner = asyncio.create_task(lane.run())
    for i in range(10):
        await lane.submit(i, now_ms())
    await run_until(lambda: len(rec.acked) == 10)
    await lane.stop()
    await runner
    assert sorted(rec.acked) == list(range(10))
    assert [i for batch in rec.batches for i in batch] == list(range(10))
    assert all(len(batch) <= 4 for batch in rec.batches)
    assert set(rec.infer_threads) == {"inference_0"}  # never on the event loop's thread


async def test_a_lone_event_is_flushed_without_waiting_for_a_full_batch(executor: ThreadPoolExecutor) -> None:
    rec = Recorder()
    lane = make_lane(rec, executor, max_batch=32, sla_ms=10.0)
    runner = asyncio.create_task(lane.run())
    await lane.submit(7, now_ms())
    await run_until(lambda: rec.acked == [7])
    await lane.stop()
    await runner


async def test_a_lone_event_on_an_idle_lane_is_published_long_before_its_deadline(
    executor: ThreadPoolExecutor,
) -> None:
    # With a 2 s budget a batcher that waited for company would hold the event for most of it;
    # an idle lane must run it at once (the quarter is slack for a loaded machine, not a goal).
    rec = Recorder()
    lane = make_lane(rec, executor, max_batch=32, sla_ms=2000.0)
    runner = asyncio.create_task(lane.run())
    await lane.submit(0, now_ms())  # the first batch also warms the estimator
    await run_until(lambda: rec.acked == [0])
    submitted = now_ms()
    await lane.submit(7, submitted)
    await run_until(lambda: rec.acked == [0, 7])
    assert now_ms() - submitted < 2000.0 / 4
    await lane.stop()
    await runner


async def test_nothing_is_acked_before_publication_is_confirmed(executor: ThreadPoolExecutor) -> None:
    rec = Recorder(auto_confirm=False)
    lane = make_lane(rec, executor)
    runner = asyncio.create_task(lane.run())
    await lane.submit(1, now_ms())
    await run_until(lambda: len(rec.deliveries) == 1)
    await asyncio.sleep(0.05)
    assert rec.acked == []
    rec.deliveries[0].set_result(None)
    await run_until(lambda: rec.acked == [1])
    await lane.stop()
    await runner


async def test_failed_publication_is_never_acked_and_stops_the_lane(executor: ThreadPoolExecutor) -> None:
    rec = Recorder(fail_publish=True)
    lane = make_lane(rec, executor)
    runner = asyncio.create_task(lane.run())
    await lane.submit(1, now_ms())
    with pytest.raises(LaneStoppedError):
        await asyncio.wait_for(runner, 5)
    assert rec.acked == []
    with pytest.raises(LaneStoppedError):
        await lane.submit(2, now_ms())


async def test_intake_is_bounded(executor: ThreadPoolExecutor) -> None:
    rec = Recorder()
    lane = make_lane(rec, executor, queue_size=3)
    for i in range(3):
        await lane.submit(i, now_ms())
    blocked = asyncio.create_task(lane.submit(3, now_ms()))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # the lane is not running, so the fourth event must wait
    runner = asyncio.create_task(lane.run())
    await asyncio.wait_for(blocked, 5)
    await run_until(lambda: len(rec.acked) == 4)
    await lane.stop()
    await runner


async def test_stop_drains_pending_events(executor: ThreadPoolExecutor) -> None:
    rec = Recorder()
    lane = make_lane(rec, executor, max_batch=64, sla_ms=60_000.0)
    for i in range(5):
        await lane.submit(i, now_ms())
    runner = asyncio.create_task(lane.run())
    await lane.stop()
    await asyncio.wait_for(runner, 5)
    assert sorted(rec.acked) == list(range(5))
    with pytest.raises(LaneStoppedError):
        await lane.submit(99, now_ms())


class BrokenModel(Recorder):
    def infer(self, items: Sequence[int]) -> list[int]:
        if 13 in items:
            raise ValueError("model blew up on 13")
        return super().infer(items)


async def test_a_lane_that_dies_reports_its_cause_once_and_takes_no_more_events(
    executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    rec = BrokenModel()
    lane = make_lane(rec, executor, max_batch=1)
    runner, failures = run_reporting_failures(lane)
    await lane.submit(1, now_ms())
    await run_until(lambda: rec.acked == [1])
    await lane.submit(13, now_ms())
    await asyncio.wait_for(runner, 5)  # returns: the failure went to on_failure, not into the task
    assert [repr(exc) for exc in failures] == [repr(ValueError("model blew up on 13"))]
    assert "lane test failed: ValueError('model blew up on 13')" in caplog.text
    assert rec.acked == [1]  # the failed event stays unacknowledged, to be consumed again
    with pytest.raises(LaneStoppedError):
        await lane.submit(2, now_ms())


async def test_a_failed_publication_is_reported_with_the_broker_error(executor: ThreadPoolExecutor) -> None:
    rec = Recorder(fail_publish=True)
    lane = make_lane(rec, executor)
    runner, failures = run_reporting_failures(lane)
    await lane.submit(1, now_ms())
    await asyncio.wait_for(runner, 5)
    assert len(failures) == 1 and isinstance(failures[0], PublishError)
    assert isinstance(failures[0].__cause__, ConnectionError)
    assert failures[0].retriable  # a network error: restarting the worker may help (exit code 1)
    assert "lane test: a batch of 1 was not delivered after 3 attempt(s)" in str(failures[0])
    assert rec.acked == []


async def test_a_cancelled_lane_is_not_a_failure(executor: ThreadPoolExecutor) -> None:
    lane = make_lane(Recorder(), executor)
    runner, failures = run_reporting_failures(lane)
    await asyncio.sleep(0.01)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert failures == []


class Shedding(Recorder):
    """Records which batches were published degraded; the fallback negates instead of doubling."""

    def __init__(self) -> None:
        super().__init__()
        self.degraded: list[tuple[list[int], bool]] = []

    def fallback(self, items: Sequence[int]) -> list[int]:
        return [2 * i for i in items]  # same values, so Recorder.publish's check holds

    async def publish(
        self, batch: Batch[int], result: list[int], scored: float, degraded: bool
    ) -> Awaitable[object]:
        self.degraded.append(([item for item, _ in batch], degraded))
        return await super().publish(batch, result, scored, degraded)


def shedding_lane(
    rec: Shedding, executor: ThreadPoolExecutor, metrics: KindMetrics
) -> ScoringLane[int, list[int]]:
    return make_lane(
        rec,
        executor,
        metrics=metrics,
        shed=ShedPolicy.for_queue(sla_ms=20.0, queue_size=100),
        fallback=rec.fallback,
    )


async def test_a_lane_behind_its_sla_sheds_to_the_fallback_and_drops_nothing(
    executor: ThreadPoolExecutor,
) -> None:
    rec = Shedding()
    metrics = Metrics()
    lane = shedding_lane(rec, executor, metrics.kind("fraud"))
    late = now_ms() - 500.0  # already past the 20 ms SLA: the model cannot make it
    for i in range(8):
        await lane.submit(i, late)
    runner = asyncio.create_task(lane.run())
    await run_until(lambda: len(rec.acked) == 8)
    on_time = [100, 101]
    for i in on_time:
        await lane.submit(i, now_ms())
    await run_until(lambda: len(rec.acked) == 10)
    await lane.stop()
    await runner
    assert sorted(rec.acked) == [*range(8), *on_time]  # everything scored and acknowledged
    assert all(degraded for items, degraded in rec.degraded if items[0] < 8)
    assert not any(degraded for items, degraded in rec.degraded if items[0] >= 100)
    assert rec.infer_threads and len(rec.infer_threads) == len([d for d in rec.degraded if not d[1]])
    assert metrics.degraded_scores.labels("fraud")._value.get() == 8


def test_shed_needs_a_fallback(executor: ThreadPoolExecutor) -> None:
    rec = Recorder()
    with pytest.raises(ValueError, match="go together"):
        make_lane(rec, executor, queue_size=10, shed=ShedPolicy.for_queue(20.0, 10))


async def test_a_failed_publication_is_sent_again_and_acked_once_delivered(
    executor: ThreadPoolExecutor,
) -> None:
    rec = Recorder(fail_publish=2)  # the broker refuses twice (restarting), then takes the batch
    lane = make_lane(rec, executor)
    runner = asyncio.create_task(lane.run())
    await lane.submit(1, now_ms())
    await run_until(lambda: rec.acked == [1])
    assert rec.batches == [[1], [1], [1]]
    await lane.stop()
    await runner


class CountingExecutor(ThreadPoolExecutor):
    """One inference thread that counts the batches handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="inference")
        self.handed = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        self.handed += 1
        return super().submit(*args, **kwargs)


async def test_a_busy_lane_queues_its_next_batch_on_the_executor_but_no_more() -> None:
    rec, running, release = Recorder(), threading.Event(), threading.Event()
    infer = rec.infer

    def first_batch_blocks(items: Sequence[int]) -> list[int]:
        if not running.is_set():
            running.set()
            release.wait(5)
        return infer(items)

    rec.infer = first_batch_blocks  # type: ignore[method-assign]
    executor = CountingExecutor()
    lane = make_lane(rec, executor, max_batch=1)
    runner = asyncio.create_task(lane.run())
    try:
        await lane.submit(1, now_ms())
        await run_until(running.is_set)
        for item in (2, 3):
            await lane.submit(item, now_ms())
        # While batch [1] runs, [2] already waits on the executor; [3] waits in the lane.
        await run_until(lambda: executor.handed == 2)
        await asyncio.sleep(0.05)
        assert executor.handed == 2 and rec.batches == []
        release.set()
        await run_until(lambda: len(rec.acked) == 3)
        assert rec.batches == [[1], [2], [3]]  # published in order
        await lane.stop()
        await runner
    finally:
        release.set()
        executor.shutdown()


class Refusal(Exception):
    """A broker error with aiokafka's ``retriable`` flag."""

    def __init__(self, retriable: bool) -> None:
        super().__init__("refused")
        self.retriable = retriable


def refused(exc: BaseException) -> asyncio.Future[None]:
    delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    delivery.set_exception(exc)
    return delivery


@pytest.mark.parametrize("retriable", [True, False])
async def test_an_undelivered_output_gives_up_after_the_retries_with_the_causes_flag(retriable: bool) -> None:
    resent: list[int] = []

    async def resend() -> Awaitable[object]:
        resent.append(1)
        return refused(Refusal(retriable))

    with pytest.raises(PublishError) as caught:
        await confirm_delivery("the output", refused(Refusal(retriable)), resend)
    assert len(resent) == 2  # one per retry delay
    assert caught.value.retriable is retriable
    assert isinstance(caught.value.__cause__, Refusal)


async def test_a_resend_that_raises_at_once_counts_as_a_failed_attempt() -> None:
    calls: list[int] = []

    async def resend() -> Awaitable[object]:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("record too large for the producer")
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered

    await confirm_delivery("the output", refused(ConnectionError("gone")), resend)
    assert len(calls) == 2  # the raise was retried; the second resend was delivered


async def test_a_stopping_worker_gives_up_at_once() -> None:
    async def resend() -> Awaitable[object]:
        raise AssertionError("not sent again while stopping")

    with pytest.raises(PublishError, match="after 1 attempt"):
        await confirm_delivery("the output", refused(ConnectionError("gone")), resend, give_up=lambda: True)


async def test_a_lane_failed_from_outside_stops_and_reports_that_cause(executor: ThreadPoolExecutor) -> None:
    rec = Recorder()
    lane = make_lane(rec, executor)
    runner, failures = run_reporting_failures(lane)
    await lane.submit(1, now_ms())
    await run_until(lambda: rec.acked == [1])
    cause = PublishError("a dead letter was not delivered", retriable=True)
    lane.fail(cause)
    await asyncio.wait_for(runner, 5)
    assert failures == [cause]
    with pytest.raises(LaneStoppedError):
        await lane.submit(2, now_ms())
