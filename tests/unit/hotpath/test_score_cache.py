from __future__ import annotations

import ctypes
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from pipeline.hotpath.inference import OnnxClassifier
from pipeline.hotpath.score_cache import ScoreCache
from pipeline.hotpath.tokenize import TextTokenizer

TOKENIZER = Path(__file__).resolve().parents[3] / "models" / "sentiment" / "tokenizer.json"


def test_keeps_the_most_recently_used() -> None:
    cache = ScoreCache(2)
    cache.put("a", np.array([0.1, 0.9]))
    cache.put("b", np.array([0.2, 0.8]))
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", np.array([0.3, 0.7]))
    assert cache.get("b") is None
    assert len(cache) == 2 and (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(cache.get("a"), np.array([0.1, 0.9], dtype=np.float32))


def test_cached_rows_are_read_only_copies() -> None:
    cache = ScoreCache(4)
    row = np.array([0.5, 0.5], dtype=np.float32)
    cache.put("x", row)
    row[0] = 9.0
    cached = cache.get("x")
    assert cached is not None and cached[0] == 0.5
    with pytest.raises(ValueError):
        cached[0] = 1.0


def test_rejects_no_capacity() -> None:
    with pytest.raises(ValueError):
        ScoreCache(0)


def _array_at(address: int, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The numpy view of memory a bound run was given by address (what onnxruntime reads/writes)."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = (ctypes.c_char * size).from_address(address)
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


class FakeBinding:
    """onnxruntime's IOBinding as the classifier uses it: CPU buffers given by address."""

    def __init__(self) -> None:
        self.inputs: dict[str, np.ndarray] = {}
        self.outputs: dict[str, np.ndarray] = {}

    def clear_binding_inputs(self) -> None:
        self.inputs.clear()

    def clear_binding_outputs(self) -> None:
        self.outputs.clear()

    def bind_input(
        self, name: str, device: str, device_id: int, dtype: Any, shape: Any, address: int
    ) -> None:
        self.inputs[name] = _array_at(address, dtype, tuple(shape))

    def bind_output(
        self, name: str, device: str, device_id: int, dtype: Any, shape: Any, address: int
    ) -> None:
        self.outputs[name] = _array_at(address, dtype, tuple(shape))


class FakeSession:
    """An onnxruntime session stand-in: probabilities from the input ids, and a count of runs."""

    def __init__(self) -> None:
        self.rows_run = 0
        self.call_shapes: list[tuple[int, ...]] = []  # input_ids' shape of each run

    def get_providers(self) -> list[str]:
        return ["CPUExecutionProvider"]

    def get_inputs(self) -> list[Any]:
        return [
            SimpleNamespace(name=name, type="tensor(int64)", shape=["batch", "sequence"])
            for name in ("input_ids", "attention_mask")
        ]

    def get_outputs(self) -> list[Any]:
        return [SimpleNamespace(name="probabilities", type="tensor(float)", shape=["batch", 2])]

    def io_binding(self) -> FakeBinding:
        return FakeBinding()

    def run_with_iobinding(self, binding: FakeBinding) -> None:
        ids = binding.inputs["input_ids"]
        self.rows_run += len(ids)
        self.call_shapes.append(ids.shape)
        first = (ids.sum(axis=1) % 100 / 100.0).astype(np.float32)
        binding.outputs["probabilities"][:] = np.stack([first, 1 - first], axis=1)


def _classifier(session: FakeSession, *, cache_size: int, batch_independent: bool = True) -> OnnxClassifier:
    meta = {"kind": "sentiment", "labels": ["negative", "positive"], "batch_independent": batch_independent}
    tokenizer = TextTokenizer.from_file(TOKENIZER, max_tokens=64)
    return OnnxClassifier(session, tokenizer, meta, {}, cache_size=cache_size)


@pytest.mark.skipif(not TOKENIZER.is_file(), reason="the shipped sentiment tokenizer is missing")
def test_repeated_texts_are_run_once_and_scored_the_same() -> None:
    texts = ["service is down again", "love the new app", "service is down again"]
    plain = _classifier(FakeSession(), cache_size=0).predict(texts)
    session = FakeSession()
    model = _classifier(session, cache_size=16)
    first = model.predict(texts)
    np.testing.assert_array_equal(first, plain)  # exact: the cache changes no score
    assert session.rows_run == 2  # the repeat inside the batch ran once
    again = model.predict(["love the new app", "a new text"])
    np.testing.assert_array_equal(again[0], plain[1])
    assert session.rows_run == 3
    assert model.cache is not None and model.cache.hits == 1  # a repeat within a batch is a miss, run once


@pytest.mark.skipif(not TOKENIZER.is_file(), reason="the shipped sentiment tokenizer is missing")
def test_no_cache_for_batched_models_or_warm_up() -> None:
    assert _classifier(FakeSession(), cache_size=16, batch_independent=False).cache is None
    session = FakeSession()
    model = _classifier(session, cache_size=16)
    model.warm_up(4)
    assert model.cache is not None and len(model.cache) == 0  # warm-up timings are real runs


@pytest.mark.skipif(not TOKENIZER.is_file(), reason="the shipped sentiment tokenizer is missing")
def test_a_lane_batch_runs_as_padded_batches_grouped_by_length() -> None:
    """What the sentiment lane does with a batch (README, model cards): no run per text."""
    texts = ["down", "the whole service has been down since this morning", "ok then"]
    lengths = [int(mask.sum()) for mask in TextTokenizer.from_file(TOKENIZER).encode(texts).attention_mask]
    for batch_independent in (True, False):
        session = FakeSession()
        _classifier(session, cache_size=0, batch_independent=batch_independent).predict(texts)
        # pipeline.hotpath.padding: the long text alone, the short ones together.
        assert session.call_shapes == [(1, max(lengths)), (2, max(lengths[0], lengths[2]))]
