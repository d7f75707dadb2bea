"""How the worker process is set up around the app: its logging and its inference threads."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import faust
import pytest

from agents.worker import ServiceWorker, _inference_executors, _load_and_warm_up
from pipeline.settings import load_settings


@pytest.fixture
def restored_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)


@pytest.mark.usefixtures("restored_root_logger")
@pytest.mark.parametrize("level", ["WARNING", "ERROR", "INFO"])
def test_worker_log_level_is_the_root_level(level: str) -> None:
    app = faust.App("test-worker-logging", broker="memory://", autodiscover=False)
    worker = ServiceWorker(app, loglevel=level, quiet=True)
    worker._setup_logging()
    expected = logging.getLevelName(level)
    assert logging.getLogger().level == expected
    # A plain faust.Worker would set the root to DEBUG here (for its spinner): every debug call of
    # aiokafka then builds a record per message sent.
    assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)


def test_each_lane_gets_its_own_inference_thread_by_default() -> None:
    executors = _inference_executors(load_settings(), lanes=2)
    try:
        assert len(set(executors)) == 2
        assert {executor._max_workers for executor in executors} == {1}
    finally:
        for executor in executors:
            executor.shutdown()


def test_lanes_can_take_turns_on_one_thread() -> None:
    executors = _inference_executors(load_settings(inference_per_lane=False), lanes=2)
    try:
        assert executors[0] is executors[1]
    finally:
        executors[0].shutdown()


@pytest.mark.parametrize(("size", "cached"), [(None, True), (0, False)])
def test_model_cache_size_reaches_the_served_models(size: int | None, cached: bool) -> None:
    """STREAMGUARD_MODEL_CACHE_SIZE bounds both caches; 0 turns them off (shipped models)."""
    shipped = Path(__file__).resolve().parents[2] / "models"
    sized = {} if size is None else {"model_cache_size": size}
    settings = load_settings(model_dir=shipped, **sized)
    fraud, _ = _load_and_warm_up(settings, "fraud", settings.fraud_model)
    sentiment, _ = _load_and_warm_up(settings, "sentiment", settings.sentiment_model)
    caches = {**fraud.caches(), **sentiment.caches()}
    if cached:
        assert {name: cache.capacity for name, cache in caches.items()} == {
            "embeddings": settings.model_cache_size,
            "scores": settings.model_cache_size,
        }
    else:
        assert caches == {}
