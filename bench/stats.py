"""Latency percentiles and the summary of one open-loop run. Pure: no I/O, no clock."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), nearest rank: a value that was really observed.

    Nearest rank never interpolates below a tail sample, so p99.9 of 1,000 values is the maximum.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be in [0, 100]")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Milliseconds; ``count`` latencies summarised."""

    count: int
    p50: float
    p95: float
    p99: float
    p999: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> LatencySummary:
        ordered = sorted(values)
        return cls(
            count=len(ordered),
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
            p999=percentile(ordered, 99.9),
            max=ordered[-1],
        )


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one system did at one offered rate.

    Events never scored before the drain deadline count with the latency they had reached by then
    (a lower bound), so losing events cannot improve the percentiles.
    """

    rate: float
    sent: int
    received: int
    missing: int
    throughput: float
    latency: LatencySummary
    sla_miss_pct: float


def summarize_run(
    *,
    rate: float,
    latencies_ms: Sequence[float],
    censored_ms: Sequence[float],
    first_receive_s: float,
    last_receive_s: float,
    sla_ms: float,
) -> RunSummary:
    """``latencies_ms``: scored events; ``censored_ms``: unscored ones, age at the drain deadline.

    Throughput is the pace of scores between the first and the last receipt: a constant latency does
    not lower it, while a system that falls behind drains its backlog at its own capacity.
    """
    every = [*latencies_ms, *censored_ms]
    if not every:
        raise ValueError("a run without events")
    span_s = last_receive_s - first_receive_s
    misses = sum(1 for ms in every if ms > sla_ms)
    return RunSummary(
        rate=rate,
        sent=len(every),
        received=len(latencies_ms),
        missing=len(censored_ms),
        throughput=(len(latencies_ms) - 1) / span_s if span_s > 0 else 0.0,
        latency=LatencySummary.of(every),
        sla_miss_pct=100.0 * misses / len(every),
    )


def saturated(run: RunSummary, *, p99_limit_ms: float, min_throughput_ratio: float = 0.9) -> bool:
    """Past capacity: events lost, throughput well below the offered rate, or p99 over the limit."""
    return (
        run.missing > 0 or run.throughput < min_throughput_ratio * run.rate or run.latency.p99 > p99_limit_ms
    )
