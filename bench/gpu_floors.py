"""One ONNX graph on the providers it is given: its floor per batch size and its batch independence.

``make gpu-check`` runs these on the CUDA provider (the graph a GPU worker serves) and on the CPU
provider (the int8 graph); the tests run them on the CPU provider with tiny sizes, so the code that
reports GPU figures is exercised on every machine. The providers are a parameter, never guessed:
an ``onnxruntime-gpu`` build lists CUDA even where no CUDA library loads, and what really ran is
reported from ``session.get_providers()``.

Floor: back-to-back batches of one size, cut in order from the texts given, tokenised (padded to
the longest text of the batch, as the worker pads) and run as the worker runs them: through I/O
binding on preallocated buffers (``pipeline.hotpath.binding``), with the worker's provider options
(``pipeline.hotpath.providers``). No Kafka, no JSON.

Batch independence: every text scored alone (its own length, no padding, no neighbours) against
the same text inside batches of each size, texts ordered so that every batch mixes short and long
ones (the most padding a batch of that size can get from the texts). The figure is the largest
absolute difference of any class probability.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.stats import percentile
from pipeline.hotpath.artefacts import GPU_MODEL_FILE, MODEL_FILE, TOKENIZER_FILE, read_meta
from pipeline.hotpath.binding import BoundSession
from pipeline.hotpath.inference import BATCH_TOLERANCE
from pipeline.hotpath.providers import CUDA_PROVIDER, GpuOptions, provider_entries
from pipeline.hotpath.tokenize import MAX_POSITIONS, TextTokenizer

log = logging.getLogger(__name__)

GPU_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
INDEPENDENCE_SIZES = (2, 4, 8, 16, 32)
# Largest probability difference between a text scored alone and inside a batch (issue 18).
INDEPENDENCE_TOLERANCE = BATCH_TOLERANCE


def graph_for(model_path: Path, provider: str) -> Path:
    """The graph to measure on ``provider``: ``model.gpu.onnx`` on CUDA when the model directory has
    one, else ``model.onnx`` (for CUDA with a logged note: a worker would serve that graph on CPU,
    ``pipeline.hotpath.providers.choose_graphs``; the check still shows what CUDA makes of it)."""
    if provider == CUDA_PROVIDER:
        gpu_graph = Path(model_path) / GPU_MODEL_FILE
        if gpu_graph.is_file():
            return gpu_graph
        log.info("%s has no %s: the CUDA provider runs %s", model_path, GPU_MODEL_FILE, MODEL_FILE)
    return Path(model_path) / MODEL_FILE


class GraphRunner:
    """One session of one graph on ``providers``, with the model directory's tokenizer."""

    def __init__(
        self,
        model_path: Path,
        providers: Sequence[str],
        *,
        graph: Path | None = None,
        threads: int = 1,
        max_tokens: int = 128,
        gpu: GpuOptions | None = None,
    ) -> None:
        import onnxruntime as ort

        if not providers:
            raise ValueError("providers must name at least one execution provider")
        self.model_path = Path(model_path)
        self.graph = graph or graph_for(self.model_path, providers[0])
        meta = read_meta(self.model_path)
        self.kind = str(meta["kind"])
        self.n_features = len(meta.get("feature_names", ()))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as the worker
        tokens = min(max_tokens, MAX_POSITIONS)
        rows = max(GPU_BATCH_SIZES)
        entries = provider_entries(
            providers, self.graph, gpu or GpuOptions(), max_rows=rows, max_tokens=tokens
        )
        self._session = ort.InferenceSession(str(self.graph), options, providers=entries)
        self.providers: list[str] = list(self._session.get_providers())
        self._bound = BoundSession(self._session, max_rows=rows, max_tokens=tokens)
        self._tokenizer = TextTokenizer.from_file(self.model_path / TOKENIZER_FILE, max_tokens=tokens)
        self._needs_features = "features" in {i.name for i in self._session.get_inputs()}

    def feeds(self, texts: Sequence[str], features: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Model inputs of a batch; a model with features gets zeros when none are given (feature
        values do not change what the graph computes, only its output)."""
        batch = self._tokenizer.encode(texts)
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if self._needs_features:
            if features is None:
                features = np.zeros((len(texts), self.n_features), dtype=np.float32)
            feeds["features"] = np.ascontiguousarray(features, dtype=np.float32)
        return feeds

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        rows = np.arange(len(feeds["input_ids"]))
        out = np.empty((len(rows), self._bound.output_width("probabilities")), dtype=np.float32)
        self._bound.run_rows("probabilities", feeds, rows, feeds["input_ids"].shape[1], out)
        return out.astype(np.float64)

    def score(self, texts: Sequence[str], features: np.ndarray | None = None) -> np.ndarray:
        return self.run(self.feeds(texts, features))


@dataclass(frozen=True, slots=True)
class BatchFloor:
    """One batch size: latency of a batch (ms, tokenising included) and texts per second."""

    batch_size: int
    p50_ms: float
    p99_ms: float
    texts_per_s: float
    tokens: int  # median padded length of the batches

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "texts_per_s": round(self.texts_per_s, 1),
            "tokens": self.tokens,
        }


@dataclass(frozen=True)
class GraphFloors:
    kind: str
    graph: str
    providers: tuple[str, ...]  # what the session really runs on, first one first
    floors: tuple[BatchFloor, ...]
    skipped_sizes: tuple[int, ...] = ()  # left out to stay within the time budget

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "graph": self.graph,
            "providers": list(self.providers),
            "floors": [floor.to_json() for floor in self.floors],
            "skipped_sizes": list(self.skipped_sizes),
        }


def batch_floors(
    model_path: Path,
    providers: Sequence[str],
    texts: Sequence[str],
    *,
    sizes: Sequence[int] = GPU_BATCH_SIZES,
    batches_per_size: int = 20,
    threads: int = 1,
    budget_s: float | None = None,
    gpu: GpuOptions | None = None,
) -> GraphFloors:
    """Times ``batches_per_size`` batches of each size (after one untimed batch of that size: a
    first run of a shape allocates, and on CUDA picks its kernels). Once ``budget_s`` has passed,
    the sizes still to go are skipped and listed (the first size always runs)."""
    if not texts or batches_per_size < 1:
        raise ValueError("batch_floors needs texts and batches_per_size >= 1")
    runner = GraphRunner(model_path, providers, threads=threads, gpu=gpu)
    began = time.monotonic()
    floors: list[BatchFloor] = []
    skipped: list[int] = []
    for size in sizes:
        if budget_s is not None and floors and time.monotonic() - began > budget_s:
            skipped.append(size)
            continue
        runner.score(_cut(texts, 0, size))
        timings, lengths = [], []
        for b in range(batches_per_size):
            batch = _cut(texts, b * size, size)
            started = time.perf_counter()
            feeds = runner.feeds(batch)
            runner.run(feeds)
            timings.append((time.perf_counter() - started) * 1000.0)
            lengths.append(int(feeds["input_ids"].shape[1]))
        floors.append(
            BatchFloor(
                batch_size=size,
                p50_ms=percentile(timings, 50),
                p99_ms=percentile(timings, 99),
                texts_per_s=size * len(timings) / (sum(timings) / 1000.0),
                tokens=int(np.median(lengths)),
            )
        )
    return GraphFloors(runner.kind, runner.graph.name, tuple(runner.providers), tuple(floors), tuple(skipped))


def _cut(texts: Sequence[str], start: int, size: int) -> list[str]:
    """``size`` texts from ``start`` on, wrapping around (a batch larger than the texts repeats them)."""
    return [texts[(start + i) % len(texts)] for i in range(size)]


@dataclass(frozen=True)
class Independence:
    kind: str
    graph: str
    providers: tuple[str, ...]
    texts: int
    max_diff: float
    by_size: dict[int, float]  # largest difference inside batches of each size
    worst_size: int
    worst_text: str
    tolerance: float = INDEPENDENCE_TOLERANCE
    batches: dict[int, list[list[int]]] = field(default_factory=dict, repr=False)  # text indices

    @property
    def passed(self) -> bool:
        return self.max_diff <= self.tolerance

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "graph": self.graph,
            "providers": list(self.providers),
            "texts": self.texts,
            "max_diff": self.max_diff,
            "by_size": {str(size): diff for size, diff in self.by_size.items()},
            "worst_size": self.worst_size,
            "worst_text": self.worst_text,
            "tolerance": self.tolerance,
            "passed": self.passed,
        }


def mixed_length_order(texts: Sequence[str]) -> list[int]:
    """Indices of ``texts`` alternating shortest and longest remaining, so consecutive texts
    differ most in length and every batch cut from the order is padded."""
    by_length = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    order: list[int] = []
    low, high = 0, len(by_length) - 1
    while low <= high:
        order.append(by_length[low])
        if high != low:
            order.append(by_length[high])
        low, high = low + 1, high - 1
    return order


def batch_independence(
    model_path: Path,
    providers: Sequence[str],
    texts: Sequence[str],
    *,
    features: np.ndarray | None = None,
    sizes: Sequence[int] = INDEPENDENCE_SIZES,
    threads: int = 1,
    gpu: GpuOptions | None = None,
) -> Independence:
    """The largest difference between each text's probabilities alone and inside batches of each
    of ``sizes`` (texts in ``mixed_length_order``; a last, shorter batch counts too). ``features``
    (rows aligned with ``texts``) for a model with features; zeros otherwise."""
    if not texts or not sizes:
        raise ValueError("batch_independence needs texts and sizes")
    runner = GraphRunner(model_path, providers, threads=threads, gpu=gpu)

    def rows(indices: Sequence[int]) -> np.ndarray | None:
        return None if features is None else features[list(indices)]

    alone = np.concatenate([runner.score([texts[i]], rows([i])) for i in range(len(texts))])
    order = mixed_length_order(texts)
    by_size: dict[int, float] = {}
    batches: dict[int, list[list[int]]] = {}
    worst = (-1.0, sizes[0], 0)
    for size in sizes:
        by_size[size] = 0.0
        batches[size] = [order[start : start + size] for start in range(0, len(order), size)]
        for chunk in batches[size]:
            together = runner.score([texts[i] for i in chunk], rows(chunk))
            diffs = np.abs(together - alone[chunk]).max(axis=1)
            j = int(diffs.argmax())
            by_size[size] = max(by_size[size], float(diffs[j]))
            if diffs[j] > worst[0]:
                worst = (float(diffs[j]), size, chunk[j])
    return Independence(
        kind=runner.kind,
        graph=runner.graph.name,
        providers=tuple(runner.providers),
        texts=len(texts),
        max_diff=max(by_size.values()),
        by_size=by_size,
        worst_size=worst[1],
        worst_text=texts[worst[2]],
        batches=batches,
    )
