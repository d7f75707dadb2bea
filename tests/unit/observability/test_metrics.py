"""Metrics: each one moves as the pipeline reports, in a registry of its own, as valid exposition text."""

from __future__ import annotations

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from pipeline.observability.metrics import Metrics
from tests.unit.metric_samples import value


def test_outputs_count_scores_latency_sla_misses_and_alerts_by_severity() -> None:
    metrics = Metrics()
    fraud = metrics.kind("fraud")
    assert metrics.kind("fraud") is fraud  # bound once
    fraud.observe_outputs(4.0, True, None)
    fraud.observe_outputs(25.0, False, "high")
    fraud.observe_outputs(9.0, True, "high")
    fraud.observe_outputs(1.0, True, "unheard-of")

    assert value(metrics, "streamguard_scores_total", kind="fraud") == 4
    assert value(metrics, "streamguard_scores_total", kind="sentiment") == 0
    assert value(metrics, "streamguard_sla_misses_total", kind="fraud") == 1
    assert value(metrics, "streamguard_alerts_total", kind="fraud", severity="high") == 2
    assert value(metrics, "streamguard_alerts_total", kind="fraud", severity="unheard-of") == 1
    assert value(metrics, "streamguard_latency_ms_count", kind="fraud") == 4
    assert value(metrics, "streamguard_latency_ms_sum", kind="fraud") == 39.0
    assert value(metrics, "streamguard_latency_ms_bucket", kind="fraud", le="5.0") == 2
    assert value(metrics, "streamguard_latency_ms_bucket", kind="fraud", le="20.0") == 3


def test_batches_queue_depth_consumed_dead_letters_model_and_lag() -> None:
    metrics = Metrics()
    text = metrics.kind("sentiment")
    text.observe_batch(8, 6.5)
    text.observe_batch(1, 1.2)
    depth = [3]
    text.track_queue_depth(lambda: depth[0])
    consumed = metrics.consumed("texts")
    for _ in range(5):
        consumed.inc()
    metrics.observe_dead_letter("texts", "not_json")
    metrics.observe_dead_letter("texts", "not_json")
    metrics.observe_dead_letter("transactions", "missing_field")
    metrics.set_model_info("sentiment", name="minilm-sentiment", version="3", provider="CPUExecutionProvider")
    metrics.set_consumer_lag({("texts", 0): 7, ("texts", 1): -2})

    assert value(metrics, "streamguard_batch_size_count", kind="sentiment") == 2
    assert value(metrics, "streamguard_batch_size_sum", kind="sentiment") == 9
    assert value(metrics, "streamguard_inference_ms_bucket", kind="sentiment", le="2.0") == 1
    assert value(metrics, "streamguard_lane_queue_depth", kind="sentiment") == 3
    depth[0] = 0
    assert value(metrics, "streamguard_lane_queue_depth", kind="sentiment") == 0  # read when scraped
    assert value(metrics, "streamguard_events_consumed_total", topic="texts") == 5
    assert value(metrics, "streamguard_dead_letters_total", topic="texts", error_type="not_json") == 2
    assert (
        value(metrics, "streamguard_dead_letters_total", topic="transactions", error_type="missing_field")
        == 1
    )
    info = {
        "kind": "sentiment",
        "name": "minilm-sentiment",
        "version": "3",
        "provider": "CPUExecutionProvider",
    }
    assert value(metrics, "streamguard_model_info", **info) == 1
    assert value(metrics, "streamguard_consumer_lag", topic="texts", partition="0") == 7
    assert value(metrics, "streamguard_consumer_lag", topic="texts", partition="1") == 0  # never negative

    metrics.set_consumer_lag({("texts", 1): 4})  # after a rebalance: partition 0 is gone
    assert (
        metrics.registry.get_sample_value("streamguard_consumer_lag", {"topic": "texts", "partition": "0"})
        is None
    )
    assert value(metrics, "streamguard_consumer_lag", topic="texts", partition="1") == 4


def test_model_caches_are_read_when_scraped() -> None:
    from pipeline.hotpath.score_cache import ScoreCache

    metrics = Metrics()
    cache = ScoreCache(2)
    metrics.track_cache("fraud", "embeddings", cache)
    labels = {"kind": "fraud", "cache": "embeddings"}
    assert value(metrics, "streamguard_model_cache_entries", **labels) == 0
    cache.put("a", np.zeros(3))
    cache.get("a")
    cache.get("b")
    cache.get("a")
    assert value(metrics, "streamguard_model_cache_hits_total", **labels) == 2
    assert value(metrics, "streamguard_model_cache_misses_total", **labels) == 1
    assert value(metrics, "streamguard_model_cache_entries", **labels) == 1


def test_exposition_parses_and_two_registries_do_not_collide() -> None:
    one, two = Metrics(), Metrics()  # a second set of the same names in one process is fine
    one.kind("fraud").observe_outputs(3.0, True, "critical")
    one.kind("fraud").observe_batch(1, 2.0)
    two.kind("fraud").observe_outputs(3.0, True, None)

    families = {f.name: f for f in text_string_to_metric_families(one.exposition().decode())}
    assert {
        "streamguard_events_consumed",
        "streamguard_scores",
        "streamguard_alerts",
        "streamguard_dead_letters",
        "streamguard_latency_ms",
        "streamguard_sla_misses",
        "streamguard_batch_size",
        "streamguard_inference_ms",
        "streamguard_lane_queue_depth",
        "streamguard_consumer_lag",
        "streamguard_model_info",
    } <= set(families)
    assert families["streamguard_latency_ms"].type == "histogram"
    scores = [s for s in families["streamguard_scores"].samples if s.name == "streamguard_scores_total"]
    assert [(s.labels, s.value) for s in scores] == [({"kind": "fraud"}, 1.0)]
    assert value(two, "streamguard_alerts_total", kind="fraud", severity="critical") == 0
