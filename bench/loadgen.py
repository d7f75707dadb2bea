"""Open-loop producer and an independent collector of scores, in the benchmark's own process.

Latency of an event = the moment the collector's fetch returned its score - the event's scheduled
send time. The collector is a plain assigned consumer (no group), so it neither joins nor commits.
Where a score carries the worker's timestamps, that latency is also split into its three legs
(``Legs``): the input hop, the worker itself and the output hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.schedule import BenchEvent, open_loop_offsets
from bench.stats import LatencySummary, RunSummary, summarize_run

# The collector is one more hop for every system alike; the worker's own fetch wait (5 ms) is
# the same compromise between latency and broker CPU.
COLLECTOR_FETCH_WAIT_MS = 5


@dataclass(frozen=True, slots=True)
class Legs:
    """One event's end-to-end latency split at the worker's own timestamps (ms).

    ``input``: scheduled send -> the worker consumed it (our producer, the broker, the worker's
    fetch wait and its consumer). ``worker``: consumed -> handed to its producer. ``output``: handed
    to the producer -> the collector's fetch returned it (producer, broker, the collector's fetch
    wait). The worker's clock is this machine's wall clock, as is ours. ``to_scored``: the part of
    ``worker`` up to the model's result (batcher, inference thread's queue, the run itself); the rest
    is the event loop's turn back to the batch and its hand-over. None where no ``scored`` stamp.
    """

    input: float
    worker: float
    output: float
    to_scored: float | None = None


def legs_of(score: bytes | None, scheduled_ms: float, received_ms: float) -> Legs | None:
    """The legs of a score record's latency; ``None`` for a record without the worker's timestamps.

    ``scheduled_ms`` and ``received_ms`` are wall-clock epoch ms.
    """
    if not score:
        return None
    try:
        stamps = orjson.loads(score).get("timestamps")
        ingested, published = float(stamps["ingested"]), float(stamps["published"])
        scored = float(stamps["scored"]) if "scored" in stamps else None
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
    to_scored = None if scored is None else scored - ingested
    return Legs(ingested - scheduled_ms, published - ingested, received_ms - published, to_scored)


class Collector:
    """Reads score topics from the beginning and times the scores of awaited event ids."""

    def __init__(self, bootstrap: str, topics: Sequence[str], security: Mapping[str, Any]) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=COLLECTOR_FETCH_WAIT_MS,
            **security,
        )
        self._topics = list(topics)
        self._due: dict[bytes, float] = {}  # event id -> scheduled send (monotonic s)
        self.latencies_ms: list[float] = []
        self.legs: list[Legs] = []  # where the score carries the worker's timestamps
        self.first_receive_s = 0.0
        self.last_receive_s = 0.0
        self._all_in = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = self._consumer
        await consumer.start()
        partitions: list[TopicPartition] = []
        for topic in self._topics:
            found: set[int] | None = None
            for _ in range(50):  # freshly created topics take a moment to show in metadata
                found = consumer.partitions_for_topic(topic)
                if found:
                    break
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.1)
            if not found:
                raise RuntimeError(f"topic {topic} has no partitions")
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def expect(self, event_id: bytes, due_s: float) -> None:
        self._due[event_id] = due_s
        self._all_in.clear()

    def reset(self) -> None:
        """Forget what was timed (pending ids of an abandoned run are dropped too)."""
        self._due.clear()
        self.latencies_ms = []
        self.legs = []
        self.first_receive_s = 0.0
        self.last_receive_s = 0.0
        self._all_in.set()

    def pending(self) -> dict[bytes, float]:
        return dict(self._due)

    async def wait_all(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_in.wait(), timeout=timeout_s)
        return not self._due

    async def _run(self) -> None:
        getmany = self._consumer.getmany
        due = self._due
        while True:
            fetched = await getmany(timeout_ms=100)
            now = time.monotonic()
            # Scheduled times are monotonic; the worker stamps wall-clock time.
            wall_offset_ms = time.time() * 1000.0 - now * 1000.0
            for records in fetched.values():
                for record in records:
                    scheduled = due.pop(record.key, None) if record.key is not None else None
                    if scheduled is not None:
                        self.latencies_ms.append((now - scheduled) * 1000.0)
                        legs = legs_of(
                            record.value, scheduled * 1000.0 + wall_offset_ms, now * 1000.0 + wall_offset_ms
                        )
                        if legs is not None:
                            self.legs.append(legs)
                        self.first_receive_s = self.first_receive_s or now
                        self.last_receive_s = now
            if not due:
                self._all_in.set()


@dataclass(frozen=True, slots=True)
class OpenLoopRun:
    summary: RunSummary
    # How late our own producer sent (ms): high values mean we, not the system, lagged.
    send_lag: LatencySummary
    send_errors: int
    # The latency's legs (see ``Legs``); None when the system's scores carry no timestamps (the
    # naive baseline).
    input_latency: LatencySummary | None
    worker_latency: LatencySummary | None
    output_latency: LatencySummary | None
    scored_latency: LatencySummary | None = None  # ``Legs.to_scored``
    # Per cent of the scored events the worker published within the SLA of ingesting them (its own
    # stamps): the SLA as the worker's user reads it off the records.
    worker_within_sla_pct: float | None = None


async def run_open_loop(
    producer: AIOKafkaProducer,
    collector: Collector,
    events: Sequence[BenchEvent],
    topic_of: Callable[[str], str],
    *,
    rate: float,
    drain_s: float,
    sla_ms: float,
) -> OpenLoopRun:
    """Send ``events`` at ``rate`` (open loop), wait up to ``drain_s`` after the last for their scores."""
    offsets = open_loop_offsets(rate, len(events) / rate)
    collector.reset()
    lags: list[float] = []
    deliveries: list[asyncio.Future[Any]] = []
    start = time.monotonic() + 0.05
    send = producer.send
    for event, offset in zip(events, offsets, strict=True):
        due = start + offset
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        collector.expect(event.event_id.encode(), due)  # scores are keyed by event id
        deliveries.append(await send(topic_of(event.kind), event.value, key=event.key))
        lags.append(max(time.monotonic() - due, 0.0) * 1000.0)
    results = await asyncio.gather(*deliveries, return_exceptions=True)
    errors = sum(1 for result in results if isinstance(result, BaseException))
    await collector.wait_all(drain_s)
    deadline = time.monotonic()
    censored = [(deadline - due) * 1000.0 for due in collector.pending().values()]
    legs = list(collector.legs)
    summary = summarize_run(
        rate=rate,
        latencies_ms=collector.latencies_ms,
        censored_ms=censored,
        first_receive_s=collector.first_receive_s,
        last_receive_s=collector.last_receive_s,
        sla_ms=sla_ms,
    )
    collector.reset()
    return OpenLoopRun(
        summary,
        LatencySummary.of(lags),
        errors,
        _summary([leg.input for leg in legs]),
        _summary([leg.worker for leg in legs]),
        _summary([leg.output for leg in legs]),
        _summary([leg.to_scored for leg in legs if leg.to_scored is not None]),
        within_sla_pct([leg.worker for leg in legs], sla_ms),
    )


def within_sla_pct(worker_ms: Sequence[float], sla_ms: float) -> float | None:
    """Per cent of ``worker_ms`` (ingested -> published) at or under ``sla_ms``; None without any."""
    if not worker_ms:
        return None
    return 100.0 * sum(1 for ms in worker_ms if ms <= sla_ms) / len(worker_ms)


def _summary(values: list[float]) -> LatencySummary | None:
    return LatencySummary.of(values) if values else None
