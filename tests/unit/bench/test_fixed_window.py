from __future__ import annotations

from bench.fixed_window import FixedWindowBatcher
from pipeline.hotpath.batching import InferenceTimeEstimator


def test_closes_after_the_window_whatever_the_load() -> None:
    batcher = FixedWindowBatcher(InferenceTimeEstimator(), window_ms=50, max_events=32)
    assert batcher.flush_at() is None
    assert not batcher.due(0)
    batcher.add("a", 1000.0)
    batcher.add("b", 1010.0)
    assert batcher.flush_at() == 1050.0
    assert not batcher.due(1049.9)  # an idle model still waits: no adaptive early flush
    assert batcher.due(1050.0)
    assert [item for item, _ in batcher.take()] == ["a", "b"]


def test_closes_when_full() -> None:
    batcher = FixedWindowBatcher(InferenceTimeEstimator(), window_ms=50, max_events=4)
    for i in range(5):
        batcher.add(i, 1000.0 + i)
    assert batcher.due(1001.0)
    assert [item for item, _ in batcher.take()] == [0, 1, 2, 3]
    assert batcher.flush_at() == 1054.0
