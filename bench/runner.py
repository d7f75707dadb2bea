"""Runs a benchmark: broker, floors, then each system at rising open-loop rates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.bench_config import BenchConfig
from bench.bench_progress import BenchProgress
from bench.floors import BATCH_SIZES, broker_floor, model_floor
from bench.loadgen import Collector, OpenLoopRun, run_open_loop
from bench.procstat import CpuWindow, peak_rss_mb
from bench.results import BenchResults, RateResult
from bench.schedule import BenchEvent, event_mix, repeat_shares
from bench.stats import saturated
from bench.systems import ChildProcess, SystemSpec, child_env, private_settings, system_spec
from pipeline.kafka.security import aiokafka_security
from pipeline.kafka.topics import delete_topics, ensure_topics
from pipeline.settings import Settings

log = logging.getLogger(__name__)

_READY_TIMEOUT_S = 120.0
# Stop climbing past this p99: the system is far beyond any useful rate.
_P99_LIMIT_MS = 5_000.0
_SETTLE_S = 0.5
_WARM_DRAIN_S = 30.0


@contextlib.contextmanager
def _broker(settings: Settings, out_dir: Path) -> Iterator[tuple[str, int | None]]:
    """(bootstrap, broker pid): the configured Kafka (pid unknown) or a fresh embedded broker."""
    if settings.bootstrap:
        yield settings.bootstrap, None
        return
    from pipeline.tooling.broker import EmbeddedBroker

    broker = EmbeddedBroker(port=0, log_path=out_dir / "broker.log")
    bootstrap = broker.start()
    process = broker._process  # the pid is only needed here, to read the broker's CPU time
    try:
        yield bootstrap, None if process is None else process.pid
    finally:
        broker.stop()


def _cache_sizes(config: BenchConfig) -> dict[str, int]:
    """Texts kept per model by the model floor and each system that sets it (0: caches off)."""
    sizes = {"model floor": 0}  # ``model_floor`` runs every event through its model
    for name in config.systems:
        size = system_spec(name, config.extra_env).env.get("STREAMGUARD_MODEL_CACHE_SIZE")
        if size is not None:
            sizes[name] = int(size)
    return sizes


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def run_bench(
    config: BenchConfig, settings: Settings, out_dir: Path, progress: BenchProgress
) -> BenchResults:
    meta: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_before": _load(),
        "sla_ms": settings.sla_ms,
        "duration_s": config.duration_s,
        "quick": config.quick,
        "extra_env": dict(config.extra_env),
        "broker": "configured Kafka" if settings.bootstrap else "embedded Tansu (memory)",
        "model_cache_size": _cache_sizes(config),
    }
    security = aiokafka_security(settings)
    rows: list[RateResult] = []
    idle: dict[str, float | None] = {}
    failures: dict[str, str] = {}
    with _broker(settings, out_dir) as (bootstrap, broker_pid):
        with progress.task("broker floor", config.broker_floor_events):
            floor = await broker_floor(bootstrap, settings, security, count=config.broker_floor_events)
        with progress.task("model floor", config.model_floor_batches * len(BATCH_SIZES)) as advance:
            events = event_mix(max(BATCH_SIZES) * 8, seed=config.seed, run_id="floor")
            floors = await asyncio.to_thread(
                model_floor,
                settings,
                events,
                batches_per_size=config.model_floor_batches,
                on_batch=lambda: advance(1),
            )
        for system in config.systems:
            try:
                system_rows, idle[system] = await _run_system(
                    system, config, settings, bootstrap, broker_pid, out_dir, progress
                )
            except (RuntimeError, TimeoutError) as exc:
                # One broken system must not cost the figures of the others; the table says so.
                log.error("%s failed, no figures for it: %s", system, exc)
                failures[system] = str(exc).splitlines()[0]
                continue
            rows += system_rows
    meta["load_after"] = _load()
    meta["failed_systems"] = failures
    return BenchResults(tuple(rows), floor, tuple(floors), idle, meta)


async def _run_system(
    system: str,
    config: BenchConfig,
    base: Settings,
    bootstrap: str,
    broker_pid: int | None,
    out_dir: Path,
    progress: BenchProgress,
) -> tuple[list[RateResult], float | None]:
    """Each rate on a fresh deployment: new topics, a new worker, warmed up at that rate.

    On the embedded broker a fetch costs in proportion to the record batches stored in the fetched
    partitions (measured: 240 single-record batches/s through one partition took Tansu from 45% to
    94% of a core within a minute). Topics carried over from the earlier rates would hand each higher
    rate a slower broker, and the curve would show the broker's history rather than the system.
    """
    spec = system_spec(system, config.extra_env)
    rates = config.rates.get(system, ())
    rows: list[RateResult] = []
    idle_cpu: float | None = None
    with progress.task(f"{system}: starting", len(rates)) as advance:
        for index, rate in enumerate(rates):
            progress.describe(f"{system}: starting for {rate:g} events/s")
            async with _deployment(system, spec, base, bootstrap, out_dir) as (settings, clients, child):
                producer, collector = clients
                if config.warmup_s > 0:
                    # Fully scored before anything is measured.
                    run_id = f"warm-{uuid.uuid4().hex[:6]}"
                    warm = event_mix(max(1, round(rate * config.warmup_s)), seed=1, run_id=run_id)
                    await _send(producer, collector, warm, settings, rate=rate, drain_s=_WARM_DRAIN_S)
                if index == 0:
                    progress.describe(f"{system}: idle CPU")
                    await asyncio.sleep(_SETTLE_S * 2)  # let commits and last flushes finish first
                    window = CpuWindow.open(child.pid)
                    await asyncio.sleep(config.idle_s)
                    idle_cpu = window.percent()
                progress.describe(f"{system}: {rate:g} events/s")
                child.check_alive()
                events = event_mix(
                    max(1, round(rate * config.duration_s)),
                    seed=config.seed + index,
                    run_id=f"{system}-{index}-{uuid.uuid4().hex[:4]}",
                )
                row = await _measure(
                    system, events, rate, producer, collector, settings, child.pid, broker_pid, config
                )
            rows.append(row)
            advance(1)
            if row.saturated:
                break
    return rows, idle_cpu


@contextlib.asynccontextmanager
async def _deployment(
    system: str, spec: SystemSpec, base: Settings, bootstrap: str, out_dir: Path
) -> AsyncIterator[tuple[Settings, tuple[AIOKafkaProducer, Collector], ChildProcess]]:
    """Topics of its own, the load generator's clients and the system's process, ready to score;
    everything is stopped and the topics deleted (freeing the broker's memory) on the way out."""
    settings = private_settings(base, system)
    security = aiokafka_security(settings)
    topics = (*settings.input_topics, *settings.output_topics)
    await ensure_topics(bootstrap, topics, settings.partitions, security=security)
    ours = settings.app_id  # every topic of this deployment starts so: ours, and the worker's tables'
    try:
        async with _clients(bootstrap, settings, security) as clients:
            child = ChildProcess(spec, child_env(settings, bootstrap, spec), out_dir / f"{system}.log")
            try:
                await _wait_ready(*clients, settings, child)
                yield settings, clients, child
            finally:
                await asyncio.to_thread(child.stop)
    finally:
        await delete_topics(bootstrap, lambda topic: topic.startswith(ours), security=security)


@contextlib.asynccontextmanager
async def _clients(
    bootstrap: str, settings: Settings, security: dict[str, Any]
) -> AsyncIterator[tuple[AIOKafkaProducer, Collector]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, **security)
    collector = Collector(
        bootstrap, (settings.topic_scores_transactions, settings.topic_scores_texts), security
    )
    await producer.start()
    try:
        await collector.start()
        try:
            yield producer, collector
        finally:
            await collector.stop()
    finally:
        await producer.stop()


def _topic_of(settings: Settings) -> Callable[[str], str]:
    topics = {"transaction": settings.topic_transactions, "text": settings.topic_texts}
    return topics.__getitem__


async def _send(
    producer: AIOKafkaProducer,
    collector: Collector,
    events: list[BenchEvent],
    settings: Settings,
    *,
    rate: float,
    drain_s: float,
) -> OpenLoopRun:
    return await run_open_loop(
        producer, collector, events, _topic_of(settings), rate=rate, drain_s=drain_s, sla_ms=settings.sla_ms
    )


async def _wait_ready(
    producer: AIOKafkaProducer, collector: Collector, settings: Settings, child: ChildProcess
) -> None:
    """Ready once one transaction and one text sent now both come back scored."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    attempt = 0
    while time.monotonic() < deadline:
        child.check_alive()
        attempt += 1
        probes = event_mix(6, seed=attempt, run_id=f"probe-{attempt}-{uuid.uuid4().hex[:4]}")
        collector.reset()
        for event in probes:
            collector.expect(event.event_id.encode(), time.monotonic())
            await producer.send(_topic_of(settings)(event.kind), event.value, key=event.key)
        if await collector.wait_all(2.0):
            collector.reset()
            return
    raise TimeoutError(
        f"{child.spec.name} scored nothing within {_READY_TIMEOUT_S:g} s (log: {child.log_path})"
    )


async def _measure(
    system: str,
    events: list[BenchEvent],
    rate: float,
    producer: AIOKafkaProducer,
    collector: Collector,
    settings: Settings,
    worker_pid: int,
    broker_pid: int | None,
    config: BenchConfig,
) -> RateResult:
    worker = CpuWindow.open(worker_pid)
    broker = CpuWindow.open(broker_pid) if broker_pid is not None else None
    ourselves = CpuWindow.open(os.getpid())
    run = await _send(producer, collector, events, settings, rate=rate, drain_s=config.drain_s)
    repeats = repeat_shares(events)
    return RateResult(
        system=system,
        run=run.summary,
        worker_cpu_pct=worker.percent(),
        broker_cpu_pct=broker.percent() if broker is not None else None,
        loadgen_cpu_pct=ourselves.percent(),
        peak_rss_mb=peak_rss_mb(worker_pid),
        send_lag_p99_ms=run.send_lag.p99,
        saturated=saturated(run.summary, p99_limit_ms=_P99_LIMIT_MS) or run.send_errors > 0,
        input_latency=run.input_latency,
        worker_latency=run.worker_latency,
        output_latency=run.output_latency,
        scored_latency=run.scored_latency,
        worker_within_sla_pct=run.worker_within_sla_pct,
        text_repeat_pct=repeats.texts_pct,
        description_repeat_pct=repeats.descriptions_pct,
    )
