"""Reading one sample of a worker's Prometheus registry, for tests."""

from __future__ import annotations

from pipeline.observability.metrics import Metrics


def value(metrics: Metrics, sample: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(sample, labels)
    return 0.0 if found is None else found
