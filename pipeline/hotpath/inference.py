"""Serving-side classifier: onnxruntime + tokenizers only (no torch, no Faust).

``OnnxClassifier.load`` opens a model directory written by ``pipeline.modelbuild.build``; ``predict`` turns
a batch of texts (and, for fraud, a feature matrix) into class probabilities. It is meant to be called
from one inference worker thread: onnxruntime releases the GIL while it runs.

Every graph a build ships is checked batch-independent (``meta.json`` ``batch_independent``): a
text's probabilities scored alone and inside a batch differ by at most ``BATCH_TOLERANCE``. Static
int8 gets there by fixing each activation scale at build time (``pipeline.modelbuild.quantize``);
the dynamic int8 graphs shipped before moved a tweet's probabilities by up to 0.21 with its batch
neighbours, so texts were run one per call. Batches now run as batches, grouped by token length
(``pipeline.hotpath.padding``). A batch-independent model without features also keeps a bounded
cache of scores by text (``pipeline.hotpath.score_cache``): a repeated text is not run again.

A model with features (fraud) cannot cache scores: the same description comes with other amounts and
another account history. When its directory has ``head.onnx`` it keeps text *embeddings* instead:
only descriptions not seen recently run through the encoder, and the small head scores every row.
"""

from __future__ import annotations

import functools
import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from pipeline.errors import StreamGuardError
from pipeline.hotpath.artefacts import (
    EMBEDDING_OUTPUT,
    HEAD_FILE,
    MODEL_FILE,
    TOKEN_WEIGHTS_FILE,
    TOKENIZER_FILE,
    ModelNotBuiltError,
    missing_artefacts,
    read_meta,
)
from pipeline.hotpath.binding import BoundSession
from pipeline.hotpath.padding import length_groups
from pipeline.hotpath.providers import CPU_PROVIDER, GpuOptions, open_session
from pipeline.hotpath.score_cache import ScoreCache
from pipeline.hotpath.token_weights import load_token_weights
from pipeline.hotpath.tokenize import MAX_POSITIONS, TextTokenizer
from pipeline.records.masking import has_digit_or_mask

log = logging.getLogger(__name__)

__all__ = [
    "BATCH_TOLERANCE",
    "DEFAULT_SCORE_CACHE_SIZE",
    "GpuOptions",
    "ModelNotBuiltError",
    "OnnxClassifier",
]

# How far a text's probabilities may move between being scored alone and inside any batch, for a
# graph to count as batch-independent (checked by every build and by tests/unit/hotpath).
BATCH_TOLERANCE = 1e-3

# Texts whose scores are kept by a batch-independent model (a few MB at most).
DEFAULT_SCORE_CACHE_SIZE = 4096

# Representative input for warm-up: about 32 tokens, like a typical tweet.
_WARM_UP_TEXT = (
    "the app keeps crashing after the latest update and support has not answered my ticket in three "
    "days, really disappointed with this service"
)


class OnnxRuntimeMissingError(StreamGuardError):
    """Neither ``onnxruntime`` nor ``onnxruntime-gpu`` is installed (serving chooses one by extra)."""


def onnxruntime_module() -> ModuleType:
    """The installed ONNX Runtime (either package provides the ``onnxruntime`` module)."""
    try:
        import onnxruntime
    except ModuleNotFoundError as exc:
        if exc.name != "onnxruntime":
            raise
        raise OnnxRuntimeMissingError(
            "no ONNX Runtime is installed: pip install 'streamguard[cpu]' (CPU) or "
            "'streamguard[gpu]' (NVIDIA GPU, CUDA 12), never both"
        ) from None
    module: ModuleType = onnxruntime
    return module


class OnnxClassifier:
    kind: str
    labels: tuple[str, ...]
    name: str
    version: str
    provider: str
    feature_names: tuple[str, ...]

    def __init__(
        self,
        session: Any,
        tokenizer: TextTokenizer,
        meta: dict[str, Any],
        token_weights: dict[str, float],
        *,
        cache_size: int = 0,
        head_session: Any = None,
        max_rows: int = 32,
    ) -> None:
        self._session = session
        self._bound = BoundSession(session, max_rows=max_rows, max_tokens=tokenizer.max_tokens)
        self._head_session = head_session
        self._tokenizer = tokenizer
        self._token_weights = token_weights
        self.meta = meta
        self.kind = str(meta["kind"])
        self.labels = tuple(str(label) for label in meta["labels"])
        self.name = str(meta.get("name", self.kind))
        self.version = str(meta.get("version", "0"))
        self.feature_names = tuple(str(n) for n in meta.get("feature_names", ()))
        # Verified by the build that wrote the graph (BATCH_TOLERANCE), never assumed.
        self.batch_independent = meta.get("batch_independent") is True
        # The provider that really runs: a CUDA build may list CUDA yet fall back to CPU.
        self.provider = str(session.get_providers()[0])
        # Why a CUDA provider that is installed is not serving this model (None: it is, or none is).
        self.gpu_fallback: str | None = None
        self._input_names = {i.name for i in session.get_inputs()}
        self._needs_features = "features" in self._input_names
        # Exact only when a text's score depends on the text alone: no batch neighbours, no features.
        cacheable = self.batch_independent and not self._needs_features and cache_size > 0
        self.cache = ScoreCache(cache_size) if cacheable else None
        # Exact for a model with features only through its head: embeddings depend on the text alone.
        embeds = head_session is not None and self._needs_features and cache_size > 0
        self.embedding_cache = ScoreCache(cache_size) if embeds else None
        # Alerting texts repeat (templated tickets, retweets): the drivers of a text never change.
        self._drivers = functools.lru_cache(maxsize=DEFAULT_SCORE_CACHE_SIZE)(self._find_drivers)

    @classmethod
    def load(
        cls,
        model_path: Path,
        *,
        threads: int = 2,
        max_tokens: int = 128,
        cache_size: int | None = None,
        max_rows: int = 32,
        gpu: GpuOptions | None = None,
    ) -> OnnxClassifier:
        """Opens ``<model_dir>/<kind>`` (or its model.onnx); raises ModelNotBuiltError if unusable.

        ``cache_size`` (default ``DEFAULT_SCORE_CACHE_SIZE``; 0 turns it off) bounds the scores a
        batch-independent model without features keeps, or the embeddings a model with features
        and a ``head.onnx`` keeps. ``max_rows`` (the lane's largest batch) and ``max_tokens`` size
        the buffers runs are bound to (``pipeline.hotpath.binding``); ``gpu``: how a GPU session
        is opened where one is available (``pipeline.hotpath.providers``)."""
        if cache_size is None:
            cache_size = DEFAULT_SCORE_CACHE_SIZE
        ort = onnxruntime_module()

        path = Path(model_path)
        if path.name == MODEL_FILE:
            path = path.parent
        if not path.is_dir():
            raise ModelNotBuiltError(path, "directory does not exist")
        missing = missing_artefacts(path)
        if missing:
            raise ModelNotBuiltError(path, f"missing {', '.join(missing)}")
        meta = read_meta(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle intra-op threads spin-wait for the next run by default. On our 2 cores, shared with
        # the event loop and the broker, that doubled the CPU time of a run (measured 8-9 vs 4 ms
        # per text) and the spinning thread delayed everything else.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            tokens = min(max_tokens, MAX_POSITIONS)
            session, gpu_fallback = open_session(
                ort, path, options, gpu or GpuOptions(), max_rows=max_rows, max_tokens=tokens
            )
            tokenizer = TextTokenizer.from_file(path / TOKENIZER_FILE, max_tokens=tokens)
            token_weights = load_token_weights(path / TOKEN_WEIGHTS_FILE)
            head_session = None
            if cache_size > 0 and (path / HEAD_FILE).is_file():
                # The head is a few small matrix products: the CPU runs it faster than a launch on a GPU.
                head_session = ort.InferenceSession(str(path / HEAD_FILE), options, providers=[CPU_PROVIDER])
        except Exception as exc:  # onnxruntime raises its own exception types (InvalidProtobuf, Fail)
            raise ModelNotBuiltError(path, f"cannot load artefacts: {exc}") from exc
        classifier = cls(
            session,
            tokenizer,
            meta,
            token_weights,
            cache_size=cache_size,
            head_session=head_session,
            max_rows=max_rows,
        )
        classifier._check_outputs(path)
        classifier.gpu_fallback = gpu_fallback
        if gpu_fallback is not None:
            log.warning(
                "%s: a CUDA provider is installed but the model runs on CPU, int8 graph: %s",
                path.name,
                gpu_fallback,
            )
        return classifier

    def caches(self) -> dict[str, ScoreCache]:
        """The caches this model keeps, by what they hold: "scores" or "embeddings" (for metrics)."""
        found = {"scores": self.cache, "embeddings": self.embedding_cache}
        return {name: cache for name, cache in found.items() if cache is not None}

    def _check_outputs(self, path: Path) -> None:
        outputs = self._session.get_outputs()
        if not outputs or outputs[0].name != "probabilities":
            raise ModelNotBuiltError(path, "model has no 'probabilities' output")
        if outputs[0].shape[-1] != len(self.labels):
            raise ModelNotBuiltError(
                path, f"model has {outputs[0].shape[-1]} classes, meta.json {self.labels}"
            )
        if self._needs_features != bool(self.feature_names):
            raise ModelNotBuiltError(path, "model inputs do not match meta.json feature_names")
        if self._head_session is not None and EMBEDDING_OUTPUT not in {o.name for o in outputs}:
            raise ModelNotBuiltError(path, f"{HEAD_FILE} is present but the model has no embedding output")

    def predict(self, texts: Sequence[str], features: np.ndarray | None = None) -> np.ndarray:
        """Probabilities float32 [B, C], rows in input order and labels in ``self.labels`` order."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self.cache is not None and features is None:
            return self._predict_cached(texts, self.cache)
        if self.embedding_cache is not None and features is not None:
            return self._predict_with_cached_embeddings(texts, features, self.embedding_cache)
        return self._predict(texts, features)

    def _predict_cached(self, texts: Sequence[str], cache: ScoreCache) -> np.ndarray:
        """Cached rows as they are; each distinct missing text run once, then kept."""
        out = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            row = cache.get(text)
            if row is None:
                missing.setdefault(text, []).append(i)
            else:
                out[i] = row
        if missing:
            fresh = self._predict(list(missing), None)
            for (text, rows), probs in zip(missing.items(), fresh, strict=True):
                out[rows] = probs
                cache.put(text, probs)
        return out

    def _predict_with_cached_embeddings(
        self, texts: Sequence[str], features: np.ndarray, cache: ScoreCache
    ) -> np.ndarray:
        """Embeddings of texts seen before come from ``cache``; each distinct new text runs through
        the encoder once (in one batch) and is kept; the head then scores every row."""
        matrix = self._feature_matrix(features, len(texts))
        known = {text: row for text in dict.fromkeys(texts) if (row := cache.get(text)) is not None}
        missing = [text for text in dict.fromkeys(texts) if text not in known]
        if missing:
            for text, embedding in zip(missing, self._embed(missing), strict=True):
                cache.put(text, embedding)
                known[text] = embedding
        feeds = {EMBEDDING_OUTPUT: np.stack([known[text] for text in texts]), "features": matrix}
        (probabilities,) = self._head_session.run(["probabilities"], feeds)
        return np.asarray(probabilities, dtype=np.float32)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Text embeddings [B, D] from the full model (features do not reach the encoder: zeros)."""
        batch = self._tokenizer.encode(texts)
        feeds = {
            "input_ids": batch.input_ids,
            "attention_mask": batch.attention_mask,
            "features": np.zeros((len(texts), len(self.feature_names)), dtype=np.float32),
        }
        return self._run_length_grouped(EMBEDDING_OUTPUT, feeds)

    def _feature_matrix(self, features: np.ndarray | None, rows: int) -> np.ndarray:
        if features is None:
            raise ValueError(f"{self.kind} model needs features [B, {len(self.feature_names)}]")
        matrix = np.ascontiguousarray(features, dtype=np.float32)
        if matrix.shape != (rows, len(self.feature_names)):
            raise ValueError(f"features shape {matrix.shape} != ({rows}, {len(self.feature_names)})")
        return matrix

    def _predict(self, texts: Sequence[str], features: np.ndarray | None) -> np.ndarray:
        batch = self._tokenizer.encode(texts)
        feeds: dict[str, np.ndarray] = {
            "input_ids": batch.input_ids,
            "attention_mask": batch.attention_mask,
        }
        if self._needs_features:
            feeds["features"] = self._feature_matrix(features, len(texts))
        return self._run_length_grouped("probabilities", feeds)

    def _run_length_grouped(self, output: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """``output`` [B, ...] in input order, from one bound run per length group
        (``pipeline.hotpath.padding``), each cut to its own longest text."""
        lengths = feeds["attention_mask"].sum(axis=1)
        result = np.empty((len(lengths), self._bound.output_width(output)), dtype=np.float32)
        for rows in length_groups(lengths):
            self._bound.run_rows(output, feeds, rows, int(lengths[rows].max()), result)
        return result

    def warm_up(self, max_batch: int) -> dict[int, float]:
        """Runs batch sizes 1, 4, 16 and ``max_batch`` a few times; median milliseconds per size."""
        sizes = sorted({size for size in (1, 4, 16, max_batch) if 1 <= size <= max(1, max_batch)})
        timings: dict[int, float] = {}
        for size in sizes:
            texts = [_WARM_UP_TEXT] * size
            features = np.zeros((size, len(self.feature_names)), dtype=np.float32)
            feats = features if self._needs_features else None
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                self._predict(texts, feats)  # never the cache: these timings drive the batcher
                runs.append((time.perf_counter() - start) * 1000.0)
            timings[size] = statistics.median(runs[1:])  # the first run pays one-off allocations
        return timings

    def token_drivers(self, text: str, k: int = 3) -> list[str]:
        """Up to ``k`` words of ``text`` that most point toward the alert class (positive weight only).

        A word with a digit or a mask character is never a driver: it is a fragment of a number
        (an amount, a reference, a masked card) and explains nothing a reader should see.
        """
        return list(self._drivers(text, k))

    def _find_drivers(self, text: str, k: int) -> tuple[str, ...]:
        weights = self._token_weights
        scored: dict[str, tuple[float, str]] = {}
        for word in self._tokenizer.words(text):
            if has_digit_or_mask(word.text):
                continue
            weight = sum(weights.get(piece, 0.0) for piece in word.pieces) / len(word.pieces)
            key = word.text.lower()
            if weight > 0.0 and (key not in scored or weight > scored[key][0]):
                scored[key] = (weight, word.text)
        ranked = sorted(scored.values(), key=lambda item: item[0], reverse=True)
        return tuple(word for _, word in ranked[:k])
