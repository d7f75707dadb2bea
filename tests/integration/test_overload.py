"""A burst of 5x the worker's capacity, once per overload policy, against the real broker.

The capacity is measured in the test's own run first: a backlog of ``PROBE_EVENTS`` offered at once
to the ``queue`` worker, and the rate at which it scores them (span of their ``timestamps.scored``).

With ``queue`` every event is scored by the model and the SLA is missed while the backlog lasts;
with ``shed`` a lane that is behind scores with the cheap fallback (``degraded: true``) and so
misses the SLA less often. Either way: no crash, no event dropped, memory bounded, the lag drains.
``STREAMGUARD_CHAOS=1`` (``make chaos``) runs the 30-second burst instead of the 5-second one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from pipeline.synthetic.transactions import generate_texts, generate_transactions
from tests.integration.web_helpers import free_port_pair, get, samples, served_url, total, until_ready
from tests.integration.workers import (
    CHAOS,
    MODEL_DIR,
    Topics,
    WorkerProcess,
    collect,
    keyed,
    rss_mb,
    worker_env,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
]

DURATION_S = 30.0 if CHAOS else 5.0
PROBE_EVENTS = 3000
OVERLOAD_FACTOR = 5.0
# What the test's producer must really reach: at least 4x capacity, or the burst proves too little.
MIN_OFFERED_FACTOR = 4.0
# Fixed per policy (``hash()`` of a str changes with every interpreter), so a failing burst replays.
OVERLOAD_SEEDS = {"queue": 91, "shed": 92}
PROBE_SEED = 90
LAG_WAIT_S = 30.0
RSS_BOUND_MB = 1536.0


@dataclass
class Outcome:
    policy: str
    offered_per_s: float
    events: int
    scored: int
    duplicates: int
    degraded: int
    sla_misses: float
    degraded_counted: float
    peak_rss_mb: float
    drain_s: float
    lag_after: float

    @property
    def miss_ratio(self) -> float:
        return self.sla_misses / max(self.scored, 1)


def burst_events(n: int, seed: int) -> list[dict[str, object]]:
    txs = [tx for tx, _ in generate_transactions(n // 2, seed=seed)]
    texts = generate_texts(n - len(txs), seed=seed)
    mixed: list[dict[str, object]] = []
    for pair in zip(txs, texts, strict=False):
        mixed.extend(pair)
    return mixed + txs[len(texts) :] + texts[len(txs) :]


async def offer(bootstrap: str, topics: Topics, events: list[dict[str, object]], rate: float | None) -> float:
    """Send ``events`` at ``rate`` per second (in 10 ms slices; ``None``: as fast as possible), wait
    for every acknowledgement; returns the rate really offered (events / seconds until the last send)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        pending = []
        for i, event in enumerate(events):
            topic = topics.transactions if "amount" in event else topics.texts
            key, value = keyed(event)
            pending.append(await producer.send(topic, value, key=key))
            ahead = (i / rate if rate else 0.0) - (time.monotonic() - started)
            if ahead > 0.01:
                await asyncio.sleep(ahead)
        sent_s = time.monotonic() - started
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return len(events) / max(sent_s, 1e-3)


async def scores_of(broker: str, topics: Topics, ids: set[str], worker: WorkerProcess) -> dict[str, float]:
    """``timestamps.scored`` of each event in ``ids``, once all are published."""
    scored: dict[str, float] = {}
    seen = 0

    def complete(records: list[ConsumerRecord]) -> bool:
        nonlocal seen
        for record in records[seen:]:  # ``collect`` passes every record so far: read each once
            value = orjson.loads(record.value)
            if value["event_id"] in ids:
                scored.setdefault(value["event_id"], value["timestamps"]["scored"])
        seen = len(records)
        return ids <= scored.keys()

    await collect(
        broker, [topics.scores_transactions, topics.scores_texts], complete, timeout_s=300,
        settle_s=0.0, alive=worker.assert_alive,
    )  # fmt: skip
    return scored


async def measure_capacity(broker: str, topics: Topics, worker: WorkerProcess) -> float:
    """Events per second the worker scores from a backlog: ``PROBE_EVENTS`` offered at once."""
    events = burst_events(PROBE_EVENTS, seed=PROBE_SEED)
    await offer(broker, topics, events, rate=None)
    scored = await scores_of(broker, topics, {str(e["event_id"]) for e in events}, worker)
    times = sorted(scored.values())
    # The first tenth is left out: the backlog is still being offered then, so the worker may wait.
    start = times[len(times) // 10]
    return (len(times) - 1 - len(times) // 10) / max((times[-1] - start) / 1000.0, 1e-3)


async def metrics_once_lag_drains(base: str, worker: WorkerProcess) -> dict[Any, float]:
    """The worker's metrics once its lag gauge reads 0, or its last reading after ``LAG_WAIT_S``
    (the gauge is updated by a fetch, so it may read the backlog for a moment after the last score)."""
    deadline = time.monotonic() + LAG_WAIT_S
    while True:
        worker.assert_alive()
        status, body = await asyncio.to_thread(get, base + "metrics")
        assert status == 200
        found = samples(body.decode())
        if total(found, "streamguard_consumer_lag") == 0 or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def run_burst(
    broker: str, tmp_path: Path, policy: str, capacity: float | None
) -> tuple[Outcome, float]:
    """One burst at ``OVERLOAD_FACTOR`` x ``capacity``, measured first in this worker when ``None``;
    returns the outcome and the capacity used."""
    topics = Topics()
    port = free_port_pair()
    env = worker_env(
        broker, topics, STREAMGUARD_OVERLOAD_POLICY=policy, STREAMGUARD_WEB_PORT=str(port)
    )  # fmt: skip
    worker = WorkerProcess(env, tmp_path / f"worker-{policy}.log")
    expected: set[str] = set()
    peak_rss = 0.0
    sampling = True

    async def sample_rss() -> None:
        nonlocal peak_rss
        while sampling:
            worker.assert_alive()
            peak_rss = max(peak_rss, rss_mb(worker.proc.pid))
            await asyncio.sleep(0.5)

    scores: dict[str, int] = {}
    degraded: set[str] = set()
    seen = 0

    def complete(records: list[ConsumerRecord]) -> bool:
        nonlocal seen
        for record in records[seen:]:
            value = orjson.loads(record.value)
            scores[value["event_id"]] = scores.get(value["event_id"], 0) + 1
            if value["degraded"]:
                degraded.add(value["event_id"])
        seen = len(records)
        return expected <= scores.keys()

    try:
        base = await served_url(worker)
        await until_ready(worker, base)
        sampler = asyncio.create_task(sample_rss())
        if capacity is None:
            capacity = await measure_capacity(broker, topics, worker)
        rate = OVERLOAD_FACTOR * capacity
        events = burst_events(int(rate * DURATION_S), seed=OVERLOAD_SEEDS[policy])
        expected = {str(e["event_id"]) for e in events}
        before = samples((await asyncio.to_thread(get, base + "metrics"))[1].decode())
        offered = await offer(broker, topics, events, rate)
        offered_at = time.monotonic()
        await collect(
            broker, [topics.scores_transactions, topics.scores_texts], complete, timeout_s=600,
            settle_s=1.0, alive=worker.assert_alive,
        )  # fmt: skip
        drain_s = time.monotonic() - offered_at
        sampling = False
        await sampler
        found = await metrics_once_lag_drains(base, worker)
    finally:
        sampling = False
        worker.stop()
    return Outcome(
        policy=policy,
        offered_per_s=offered,
        events=len(expected),
        scored=len(expected & scores.keys()),
        duplicates=sum(scores.values()) - len(scores),
        degraded=len(degraded),
        sla_misses=total(found, "streamguard_sla_misses_total")
        - total(before, "streamguard_sla_misses_total"),
        degraded_counted=total(found, "streamguard_degraded_scores_total")
        - total(before, "streamguard_degraded_scores_total"),
        peak_rss_mb=peak_rss,
        drain_s=drain_s,
        lag_after=total(found, "streamguard_consumer_lag"),
    ), capacity


async def test_a_burst_beyond_capacity_is_scored_completely_under_both_overload_policies(
    broker: str, tmp_path: Path
) -> None:
    queue, capacity = await run_burst(broker, tmp_path, "queue", None)
    shed, _ = await run_burst(broker, tmp_path, "shed", capacity)
    outcomes = [queue, shed]
    print(
        f"\noverload: capacity {capacity:.0f} events/s measured, "
        f"burst of {OVERLOAD_FACTOR:g}x for {DURATION_S:g} s"
    )
    for o in outcomes:
        print(
            f"  {o.policy:5}: offered {o.offered_per_s:.0f}/s ({o.offered_per_s / capacity:.1f}x), "
            f"{o.events} events, {o.events - o.scored} lost, {o.duplicates} duplicates, "
            f"{o.degraded} degraded, {o.sla_misses:.0f} SLA misses ({o.miss_ratio:.0%}), "
            f"peak RSS {o.peak_rss_mb:.0f} MB, drained {o.drain_s:.1f} s after, lag {o.lag_after:.0f}"
        )
    for o in outcomes:
        assert o.offered_per_s >= MIN_OFFERED_FACTOR * capacity, "the producer fell short of an overload"
        assert o.scored == o.events  # nothing dropped, whatever the policy
        assert o.peak_rss_mb < RSS_BOUND_MB
        assert o.lag_after == 0
    assert queue.degraded == 0 and queue.degraded_counted == 0
    assert queue.sla_misses > 0  # the burst really was more than the model could take on time
    assert shed.degraded > 0 and shed.degraded_counted >= shed.degraded
    assert shed.miss_ratio < queue.miss_ratio
