"""Every shipped graph, int8 (CPU) and GPU (here on the CPU provider), scores a text the same alone
and inside any batch (issue: true batching).

Over the build's whole test split: each text scored alone, then the split shuffled and cut into
batches of 2-32 texts of mixed lengths, scored as the worker scores a lane batch (grouped by token
length, no cache). A text's probabilities may move by at most ``BATCH_TOLERANCE``.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from pipeline.hotpath.artefacts import (
    GPU_MODEL_FILE,
    MODEL_FILE,
    TOKEN_WEIGHTS_FILE,
    TOKENIZER_FILE,
    is_complete,
    read_meta,
)
from pipeline.hotpath.inference import BATCH_TOLERANCE, OnnxClassifier
from tests.unit.modelbuild.shipped import recreate_test_split
from tests.unit.modelbuild.smoke import REPO_MODELS

pytestmark = pytest.mark.slow


def _random_batches(n: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    order = list(range(n))
    rng.shuffle(order)
    batches, start = [], 0
    while start < n:
        size = rng.randint(2, 32)
        batches.append(order[start : start + size])
        start += size
    return batches


def _fraud_test_rows(model: Path) -> tuple[list[str], np.ndarray]:
    """The first row of each distinct description in the fraud test set, with its features (the
    head sees each row alone; the encoder is what batches)."""
    from pipeline.features.model_inputs import (
        replay_velocities,
        transaction_features_batch,
        transaction_text,
    )
    from pipeline.modelbuild.data import load_transactions
    from pipeline.modelbuild.fraud import SEED_OFFSETS

    config = read_meta(model)["build_config"]
    data = load_transactions(
        config["fraud"]["test_rows"],
        seed=config["seed"] + SEED_OFFSETS["test"],
        fraud_rate=config["fraud"]["fraud_rate"],
    )
    txs = data.transactions
    features = transaction_features_batch(txs, replay_velocities(txs))
    first: dict[str, int] = {}
    for i, tx in enumerate(txs):
        first.setdefault(transaction_text(tx), i)
    return list(first), features[list(first.values())]


def _max_batch_effect(classifier: OnnxClassifier, texts: list[str], features: np.ndarray | None) -> float:
    def rows(index: list[int]) -> np.ndarray | None:
        return None if features is None else features[index]

    alone = np.concatenate([classifier.predict([texts[i]], rows([i])) for i in range(len(texts))])
    worst = 0.0
    for batch in _random_batches(len(texts), seed=len(texts)):
        batched = classifier.predict([texts[i] for i in batch], rows(batch))
        worst = max(worst, float(np.max(np.abs(batched - alone[batch]))))
    return worst


def _gpu_graph_on_cpu(model: Path) -> OnnxClassifier:
    """The shipped GPU graph behind the serving classifier, on the CPU provider (no GPU here)."""
    import onnxruntime as ort

    from pipeline.hotpath.token_weights import load_token_weights
    from pipeline.hotpath.tokenize import TextTokenizer

    session = ort.InferenceSession(str(model / GPU_MODEL_FILE), providers=["CPUExecutionProvider"])
    meta = read_meta(model)
    tokenizer = TextTokenizer.from_file(model / TOKENIZER_FILE, max_tokens=meta["max_tokens"])
    return OnnxClassifier(session, tokenizer, meta, load_token_weights(model / TOKEN_WEIGHTS_FILE))


@pytest.mark.parametrize("graph", [MODEL_FILE, GPU_MODEL_FILE])
@pytest.mark.parametrize("name", ["sentiment", "sentiment-student", "fraud"])
def test_a_shipped_graph_scores_a_text_the_same_alone_and_in_any_batch(name: str, graph: str) -> None:
    kind = "fraud" if name == "fraud" else "sentiment"
    model = REPO_MODELS / name
    if not is_complete(model, kind) or not (model / graph).is_file():
        pytest.skip(f"no shipped {name} {graph} at {model} (python -m pipeline.modelbuild build)")
    if graph == MODEL_FILE:
        classifier = OnnxClassifier.load(model, threads=2, cache_size=0)
    else:
        classifier = _gpu_graph_on_cpu(model)
    if kind == "fraud":
        texts, features = _fraud_test_rows(model)
    else:
        texts, _, _ = recreate_test_split(model)
        features = None
    assert len(texts) > 2000  # the whole split, not a sample
    worst = _max_batch_effect(classifier, texts, features)
    print(f"\n{name} {graph}: {len(texts):,} test texts, max |batched - alone| {worst:.2e}")
    assert worst <= BATCH_TOLERANCE
    assert classifier.batch_independent  # meta.json says so, and the cache relies on it
