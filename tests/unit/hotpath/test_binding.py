"""pipeline.hotpath.binding: bound runs on the shipped graphs give what plain runs give, on buffers
allocated once."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from pipeline.hotpath.artefacts import GPU_MODEL_FILE, MODEL_FILE, TOKENIZER_FILE, is_built
from pipeline.hotpath.binding import BoundSession
from pipeline.hotpath.tokenize import TextTokenizer
from tests.unit.modelbuild.smoke import REPO_MODELS

TEXTS = [
    "down",
    "the whole service has been down since this morning and nobody answers",
    "ok then",
    "refund for order placed online last week was never received",
    "love the new app",
]


def _feeds(kind: str, texts: list[str]) -> dict[str, np.ndarray]:
    batch = TextTokenizer.from_file(REPO_MODELS / kind / TOKENIZER_FILE, max_tokens=64).encode(texts)
    feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    if kind == "fraud":
        feeds["features"] = np.random.default_rng(3).normal(size=(len(texts), 24)).astype(np.float32)
    return feeds


@pytest.mark.parametrize("graph", [MODEL_FILE, GPU_MODEL_FILE])
@pytest.mark.parametrize(("kind", "output"), [("sentiment", "probabilities"), ("fraud", "embedding")])
def test_bound_runs_equal_plain_runs_and_reuse_their_buffers(kind: str, output: str, graph: str) -> None:
    if not is_built(REPO_MODELS, kind):
        pytest.skip(f"no {kind} model in ./models")
    session = ort.InferenceSession(str(REPO_MODELS / kind / graph), providers=["CPUExecutionProvider"])
    bound = BoundSession(session, max_rows=4, max_tokens=64)
    buffers = {name: buffer.data for name, buffer in {**bound._inputs, **bound._outputs}.items()}
    feeds = _feeds(kind, TEXTS)
    lengths = feeds["attention_mask"].sum(axis=1)
    rng = np.random.default_rng(7)
    for _ in range(20):  # groups of 1-4 rows in any order, cut to their longest text
        rows = rng.choice(len(TEXTS), size=int(rng.integers(1, 5)), replace=False)
        width = int(lengths[rows].max())
        into = np.full((len(TEXTS), bound.output_width(output)), np.nan, dtype=np.float32)
        bound.run_rows(output, feeds, rows, width, into)
        plain = {n: (v[rows][:, :width] if n != "features" else v[rows]) for n, v in feeds.items()}
        (expected,) = session.run([output], plain)
        np.testing.assert_array_equal(into[rows], expected)
        assert np.isnan(np.delete(into, rows, axis=0)).all()  # only its own rows are written
    # Within max_rows x max_tokens no run allocated a buffer of its own.
    assert all(bound._inputs.get(n, bound._outputs.get(n)).data is data for n, data in buffers.items())

    # A caller with more rows than the lane's largest batch: the buffers grow, the results hold.
    rows = np.arange(len(TEXTS))
    into = np.empty((len(TEXTS), bound.output_width(output)), dtype=np.float32)
    bound.run_rows(output, feeds, rows, int(lengths.max()), into)
    (expected,) = session.run([output], feeds)
    np.testing.assert_array_equal(into, expected)
