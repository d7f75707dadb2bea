"""What one ``streamguard bench`` invocation measures: systems, rates, durations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bench.systems import KNOWN_SYSTEMS, SYSTEMS

# Rising open-loop rates; each system climbs until it saturates.
_FULL_RATES = (50.0, 100.0, 200.0, 300.0, 400.0, 600.0, 800.0, 1200.0, 1600.0, 2400.0)
_FULL_NAIVE_RATES = (5.0, 10.0, 20.0, 50.0, 100.0, 200.0)
# The tuned app goes further; it must reach its capacity for the "N x naive" ratio to hold.
_FULL_NAIVE_TUNED_RATES = (*_FULL_NAIVE_RATES, 300.0, 400.0)
_QUICK_RATES: dict[str, tuple[float, ...]] = {
    "streamguard": (100.0, 300.0, 600.0, 1000.0),
    "streamguard_cached": (100.0, 300.0, 600.0, 1000.0),
    "per_event_onnx": (100.0, 300.0),
    "fixed_window": (100.0, 300.0),
    "naive": (10.0, 50.0),
    "naive_tuned": (10.0, 50.0, 100.0, 200.0),
    "relay": (100.0, 300.0, 600.0, 1000.0),
    "model_relay": (100.0, 300.0),
}


@dataclass(frozen=True)
class BenchConfig:
    systems: tuple[str, ...]
    rates: Mapping[str, tuple[float, ...]]
    duration_s: float  # open-loop sending per rate
    drain_s: float  # longest wait for the last scores after sending stops
    warmup_s: float  # unmeasured traffic after a system is ready
    idle_s: float  # idle CPU measurement
    broker_floor_events: int
    model_floor_batches: int
    seed: int = 7
    extra_env: Mapping[str, str] = field(default_factory=dict)
    quick: bool = False

    def with_overrides(
        self,
        *,
        systems: tuple[str, ...] | None = None,
        rates: tuple[float, ...] | None = None,
        duration_s: float | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> BenchConfig:
        """``rates`` replaces the rates of every system."""
        chosen = systems or self.systems
        unknown = set(chosen) - set(KNOWN_SYSTEMS)
        if unknown:
            raise ValueError(f"unknown systems {sorted(unknown)}; choose from {', '.join(KNOWN_SYSTEMS)}")
        return replace(
            self,
            systems=chosen,
            rates={name: rates for name in chosen} if rates else self.rates,
            duration_s=duration_s or self.duration_s,
            extra_env={**self.extra_env, **(extra_env or {})},
        )


def full_config() -> BenchConfig:
    rates: dict[str, tuple[float, ...]] = {name: _FULL_RATES for name in KNOWN_SYSTEMS}
    rates["naive"] = _FULL_NAIVE_RATES
    rates["naive_tuned"] = _FULL_NAIVE_TUNED_RATES
    return BenchConfig(
        systems=SYSTEMS,
        rates=rates,
        duration_s=15.0,
        drain_s=10.0,
        warmup_s=3.0,
        idle_s=5.0,
        broker_floor_events=1000,
        model_floor_batches=30,
    )


def quick_config() -> BenchConfig:
    """Fewer rates, 4 s each (every rate still starts a fresh deployment of its system)."""
    return BenchConfig(
        systems=SYSTEMS,
        rates=dict(_QUICK_RATES),
        duration_s=4.0,
        drain_s=3.0,
        warmup_s=1.0,
        idle_s=3.0,
        broker_floor_events=200,
        model_floor_batches=8,
        quick=True,
    )
