"""What a benchmark produced, and its JSON form (the contract of ``streamguard bench --json``).

Contract keys, kept exactly: ``results`` (rows with ``system, rate, throughput, p50, p95, p99, p999,
sla_miss_pct``), ``broker_floor_p99`` and ``model_floor`` (``{"<batch size>": {p50, p99,
throughput}}``). Latencies are ms, rates and throughput events/s. Other keys are extra detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.floors import ModelFloor
from bench.stats import LatencySummary, RunSummary

CONTRACT_ROW_KEYS = ("system", "rate", "throughput", "p50", "p95", "p99", "p999", "sla_miss_pct")


@dataclass(frozen=True, slots=True)
class RateResult:
    system: str
    run: RunSummary
    worker_cpu_pct: float | None
    broker_cpu_pct: float | None
    loadgen_cpu_pct: float | None
    peak_rss_mb: float | None
    send_lag_p99_ms: float
    saturated: bool
    # The legs of the latency (``bench.loadgen.Legs``): scheduled send -> the worker
    # consumed it, consumed -> handed to the producer, handed over -> received. None without them.
    input_latency: LatencySummary | None = None
    worker_latency: LatencySummary | None = None
    output_latency: LatencySummary | None = None
    scored_latency: LatencySummary | None = None  # the in-worker leg up to the model's result
    worker_within_sla_pct: float | None = None  # published within the SLA of ingestion, worker's stamps
    # Per cent of the run's texts / transaction model texts repeating an earlier one of the run
    # (``bench.schedule.repeat_shares``): what a cache could answer without the model.
    text_repeat_pct: float | None = None
    description_repeat_pct: float | None = None

    def row(self) -> dict[str, Any]:
        latency = self.run.latency
        return {
            "system": self.system,
            "rate": self.run.rate,
            "throughput": round(self.run.throughput, 1),
            "p50": round(latency.p50, 2),
            "p95": round(latency.p95, 2),
            "p99": round(latency.p99, 2),
            "p999": round(latency.p999, 2),
            "sla_miss_pct": round(self.run.sla_miss_pct, 2),
            "sent": self.run.sent,
            "received": self.run.received,
            "missing": self.run.missing,
            "worker_cpu_pct": _round(self.worker_cpu_pct),
            "broker_cpu_pct": _round(self.broker_cpu_pct),
            "loadgen_cpu_pct": _round(self.loadgen_cpu_pct),
            "peak_rss_mb": _round(self.peak_rss_mb),
            "send_lag_p99_ms": round(self.send_lag_p99_ms, 2),
            **_leg("input", self.input_latency),
            **_leg("worker", self.worker_latency),
            **_leg("output", self.output_latency),
            **_leg("to_scored", self.scored_latency),
            "worker_within_sla_pct": _round(self.worker_within_sla_pct),
            "text_repeat_pct": _round(self.text_repeat_pct),
            "description_repeat_pct": _round(self.description_repeat_pct),
            "saturated": self.saturated,
        }


@dataclass(frozen=True)
class BenchResults:
    rows: tuple[RateResult, ...]
    broker_floor: LatencySummary
    model_floor: tuple[ModelFloor, ...]
    idle_cpu_pct: Mapping[str, float | None]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self, targets: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {
            "results": [row.row() for row in self.rows],
            "broker_floor_p99": round(self.broker_floor.p99, 3),
            "model_floor": {
                str(floor.batch_size): {
                    "p50": round(floor.p50, 3),
                    "p99": round(floor.p99, 3),
                    "throughput": round(floor.throughput, 1),
                }
                for floor in self.model_floor
            },
            "broker_floor": {k: round(v, 3) for k, v in asdict(self.broker_floor).items()},
            "idle_worker_cpu_pct": {k: _round(v) for k, v in self.idle_cpu_pct.items()},
            "targets": dict(targets or {}),
            "meta": dict(self.meta),
        }


def _leg(name: str, latency: LatencySummary | None) -> dict[str, float | None]:
    return {
        f"{name}_p50": None if latency is None else round(latency.p50, 2),
        f"{name}_p99": None if latency is None else round(latency.p99, 2),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
