"""Build-time scoring of an ONNX ``probabilities`` graph on the CPU provider (evaluation, parity)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.hotpath.tokenize import TextTokenizer


class OnnxProbabilities:
    """An ONNX ``probabilities`` model scored in length-sorted batches; ``batch_size=1`` scores each
    text alone (for a graph whose batching is not known to be exact, such as an imported one)."""

    def __init__(self, path: Path, tokenizer: TextTokenizer, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = tokenizer

    def __call__(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = self._tokenizer.encode([texts[i] for i in chunk])
            feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
            (probabilities,) = self._session.run(["probabilities"], feeds)
            if out is None:
                out = np.zeros((len(texts), probabilities.shape[1]), dtype=np.float32)
            out[chunk] = probabilities
        if out is None:
            raise ValueError("no texts to score")
        return out
