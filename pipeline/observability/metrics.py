"""Prometheus metrics of a worker, in a registry of its own. Pure: no Faust, no I/O.

``Metrics`` owns a ``CollectorRegistry`` (never prometheus_client's global one), so tests and two apps
in one process do not collide. The hot path goes through ``KindMetrics``: one per model kind, holding
label children bound once, so observing an event is a few attribute reads and lock-protected adds,
with no label lookups or dict building per event.

Values that are cheap to read but change all the time (lane queue depth, consumer lag, model cache
counts) are computed when scraped, not on every event: ``track_queue_depth`` and ``track_cache`` take
what to read, ``set_consumer_lag`` is called by the web server just before it renders the exposition
text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pipeline.settings import SEVERITIES

__all__ = ["CONTENT_TYPE_LATEST", "KindMetrics", "Metrics"]

PREFIX: Final = "streamguard"
# Suited to a 20 ms SLA: fine below it, coarse above.
LATENCY_BUCKETS_MS: Final = (1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 100, 250, 500, 1000)
INFERENCE_BUCKETS_MS: Final = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 100, 250, 1000)
BATCH_SIZE_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class KindMetrics:
    """The metrics of one model kind ("fraud", "sentiment"), label children bound once."""

    __slots__ = (
        "_alerts",
        "_alerts_family",
        "_batch_size",
        "_degraded",
        "_inference_ms",
        "_latency_ms",
        "_queue_depth",
        "_scores",
        "_sla_misses",
        "kind",
    )

    def __init__(self, metrics: Metrics, kind: str) -> None:
        self.kind = kind
        self._scores = metrics.scores.labels(kind)
        self._latency_ms = metrics.latency_ms.labels(kind)
        self._sla_misses = metrics.sla_misses.labels(kind)
        self._degraded = metrics.degraded_scores.labels(kind)
        self._batch_size = metrics.batch_size.labels(kind)
        self._inference_ms = metrics.inference_ms.labels(kind)
        self._queue_depth = metrics.queue_depth.labels(kind)
        self._alerts_family = metrics.alerts
        self._alerts = {severity: metrics.alerts.labels(kind, severity) for severity in SEVERITIES}

    def observe_batch(self, size: int, inference_ms: float) -> None:
        """One model batch of ``size`` events that took ``inference_ms`` to run."""
        self._batch_size.observe(size)
        self._inference_ms.observe(inference_ms)

    def observe_outputs(self, latency_ms: float, sla_met: bool, alert_severity: str | None) -> None:
        """One event's score handed to the producer (and its alert, if any)."""
        self._scores.inc()
        self._latency_ms.observe(latency_ms)
        if not sla_met:
            self._sla_misses.inc()
        if alert_severity is not None:
            child = self._alerts.get(alert_severity)
            if child is None:  # a severity unknown today: count it rather than drop it
                child = self._alerts[alert_severity] = self._alerts_family.labels(self.kind, alert_severity)
            child.inc()

    def observe_degraded(self, count: int) -> None:
        """``count`` scores made by the fallback of an overloaded lane, handed to the producer."""
        self._degraded.inc(count)

    def track_queue_depth(self, depth: Callable[[], int]) -> None:
        """Read the lane's queue depth from ``depth`` at every scrape (costs nothing per event)."""
        self._queue_depth.set_function(lambda: float(depth()))


class CountingCache(Protocol):
    """What the metrics read of a model's cache (``pipeline.hotpath.score_cache.ScoreCache``)."""

    hits: int
    misses: int

    def __len__(self) -> int: ...


class _CacheCollector:
    """Hits, misses and entries of the models' caches, read from the caches when scraped."""

    def __init__(self) -> None:
        self.caches: dict[tuple[str, str], CountingCache] = {}

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        labels = ["kind", "cache"]
        hits = CounterMetricFamily(
            f"{PREFIX}_model_cache_hits",
            "Texts whose score or embedding a model found in its cache",
            labels=labels,
        )
        misses = CounterMetricFamily(
            f"{PREFIX}_model_cache_misses", "Texts a model looked up in its cache and ran", labels=labels
        )
        entries = GaugeMetricFamily(
            f"{PREFIX}_model_cache_entries", "Texts held in a model's cache", labels=labels
        )
        for (kind, name), cache in self.caches.items():
            hits.add_metric([kind, name], cache.hits)
            misses.add_metric([kind, name], cache.misses)
            entries.add_metric([kind, name], len(cache))
        yield from (hits, misses, entries)


class Metrics:
    """Every StreamGuard metric, registered in ``self.registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_consumed = Counter(
            f"{PREFIX}_events_consumed",
            "Messages taken from an input topic (valid or not)",
            ["topic"],
            registry=r,
        )
        self.scores = Counter(f"{PREFIX}_scores", "Scores handed to the producer", ["kind"], registry=r)
        self.alerts = Counter(
            f"{PREFIX}_alerts", "Alerts handed to the producer", ["kind", "severity"], registry=r
        )
        self.dead_letters = Counter(
            f"{PREFIX}_dead_letters",
            "Input messages sent to the dead-letter topic",
            ["topic", "error_type"],
            registry=r,
        )
        self.publish_failures = Counter(
            f"{PREFIX}_publish_failures",
            "Output records the broker did not confirm, per attempt (retried, then the worker stops)",
            ["topic"],
            registry=r,
        )
        self.latency_ms = Histogram(
            f"{PREFIX}_latency_ms",
            "Ingestion to publication of a score, milliseconds",
            ["kind"],
            buckets=LATENCY_BUCKETS_MS,
            registry=r,
        )
        self.sla_misses = Counter(
            f"{PREFIX}_sla_misses", "Scores published later than the SLA", ["kind"], registry=r
        )
        self.degraded_scores = Counter(
            f"{PREFIX}_degraded_scores",
            "Scores made by the cheap fallback of an overloaded lane (overload policy shed)",
            ["kind"],
            registry=r,
        )
        self.input_rereads = Counter(
            f"{PREFIX}_input_rereads",
            "Input records fetched but never delivered to an agent, read again (agents/overrides/gaps.py)",
            ["topic"],
            registry=r,
        )
        self.input_offsets_without_records = Counter(
            f"{PREFIX}_input_offsets_without_records",
            "Input offsets the broker showed hold no record (transaction markers, compaction); "
            "commits passed them",
            ["topic"],
            registry=r,
        )
        self.input_log_rewinds = Counter(
            f"{PREFIX}_input_log_rewinds",
            "Input partitions whose log was recreated (a broker restart) and consumed again from "
            "offset 0 (agents/overrides/offsets.py)",
            ["topic"],
            registry=r,
        )
        self.input_log_reseeks = Counter(
            f"{PREFIX}_input_log_reseeks",
            "Rewound input partitions fetched past but never delivered, read again "
            "(agents/overrides/offsets.py)",
            ["topic"],
            registry=r,
        )
        self.batch_size = Histogram(
            f"{PREFIX}_batch_size", "Events per model batch", ["kind"], buckets=BATCH_SIZE_BUCKETS, registry=r
        )
        self.inference_ms = Histogram(
            f"{PREFIX}_inference_ms",
            "Model time per batch, milliseconds",
            ["kind"],
            buckets=INFERENCE_BUCKETS_MS,
            registry=r,
        )
        self.queue_depth = Gauge(
            f"{PREFIX}_lane_queue_depth", "Events waiting in a lane for a batch", ["kind"], registry=r
        )
        self.consumer_lag = Gauge(
            f"{PREFIX}_consumer_lag",
            "Messages behind the partition's high watermark (read when scraped)",
            ["topic", "partition"],
            registry=r,
        )
        self.model_info = Gauge(
            f"{PREFIX}_model_info",
            "The model serving a kind (value is always 1)",
            ["kind", "name", "version", "provider"],
            registry=r,
        )
        self.gpu_fallback = Gauge(
            f"{PREFIX}_model_gpu_fallback",
            "1 when a CUDA provider is installed but the kind's model runs on CPU, with the reason",
            ["kind", "reason"],
            registry=r,
        )
        self._caches = _CacheCollector()
        r.register(self._caches)
        self._kinds: dict[str, KindMetrics] = {}
        self._dead_letters: dict[tuple[str, str], Counter] = {}

    # -- bound views for the hot path --------------------------------------------------------
    def kind(self, kind: str) -> KindMetrics:
        """The metrics of one model kind; the same object on every call."""
        found = self._kinds.get(kind)
        if found is None:
            found = self._kinds[kind] = KindMetrics(self, kind)
        return found

    def consumed(self, topic: str) -> Counter:
        """The counter of messages consumed from ``topic``: keep it and call ``inc()`` per message."""
        counter: Counter = self.events_consumed.labels(topic)
        return counter

    # -- events -------------------------------------------------------------------------------
    def observe_dead_letter(self, topic: str, error_type: str) -> None:
        key = (topic, error_type)
        child = self._dead_letters.get(key)
        if child is None:
            child = self._dead_letters[key] = self.dead_letters.labels(topic, error_type)
        child.inc()

    def observe_publish_failure(self, topic: str) -> None:
        """One record to ``topic`` whose delivery failed (rare: no bound child kept)."""
        self.publish_failures.labels(topic).inc()

    def set_model_info(
        self, kind: str, *, name: str, version: str, provider: str, gpu_fallback: str | None = None
    ) -> None:
        self.model_info.labels(kind, name, version, provider).set(1)
        if gpu_fallback is not None:
            self.gpu_fallback.labels(kind, gpu_fallback).set(1)

    def track_cache(self, kind: str, name: str, cache: CountingCache) -> None:
        """Export ``cache``'s counts (``name``: "scores" or "embeddings"), read at every scrape.

        The inference thread updates the counts; reading two ints needs no lock."""
        self._caches.caches[(kind, name)] = cache

    def set_consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Replace the lag of every assigned partition; partitions no longer assigned disappear."""
        self.consumer_lag.clear()
        for (topic, partition), lag in lags.items():
            self.consumer_lag.labels(topic, str(partition)).set(max(lag, 0))

    # -- reading --------------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The registry in Prometheus text format (content type ``CONTENT_TYPE_LATEST``)."""
        return generate_latest(self.registry)
