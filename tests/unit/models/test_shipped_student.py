"""The 3-layer student shipped in ``models/sentiment-student`` still scores what its model card says.

Re-creates the build's seeded test split from the build config in meta.json (as
``test_shipped_sentiment`` does for the 6-layer model) and scores all of it with the serving loader.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.models.registry import STUDENT_MODEL, is_complete, read_meta, serving_model_path
from tests.unit.models.shipped import predicted_classes, recreate_test_split
from tests.unit.models.smoke import REPO_MODELS

SHIPPED = REPO_MODELS / STUDENT_MODEL
TOLERANCE = 0.015  # accuracy points (as a fraction) the shipped model may drift from its card
BATCH = 64

pytestmark = pytest.mark.skipif(
    not is_complete(SHIPPED, "sentiment"),
    reason=f"no shipped student at {SHIPPED} (python -m pipeline.models build --only sentiment-student)",
)


def test_shipped_student_accuracy_matches_its_card() -> None:
    from pipeline.inference import OnnxClassifier

    texts, labels, meta = recreate_test_split(SHIPPED)
    card = meta["metrics"]["test"]  # type: ignore[index]
    assert card["n"] == len(texts), "the recreated test split differs from the one the build used"
    classifier = OnnxClassifier.load(serving_model_path(REPO_MODELS, STUDENT_MODEL, "sentiment"), threads=2)
    assert classifier.kind == "sentiment"
    assert classifier.labels == ("negative", "neutral", "positive")
    predicted = predicted_classes(classifier, texts, BATCH)
    accuracy = float(np.mean(predicted == labels))
    assert abs(accuracy - card["accuracy"]) <= TOLERANCE, (
        f"shipped student scores {accuracy:.4f} on {len(texts)} test tweets; its card says {card['accuracy']}"
    )


def test_shipped_student_is_a_small_int8_drop_in_for_sentiment() -> None:
    meta = read_meta(SHIPPED)
    assert meta["kind"] == "sentiment" and meta["smoke"] is False
    assert meta["inputs"] == ["input_ids", "attention_mask"] and meta["output"] == "probabilities"
    assert meta["head"]["layers"] == 3
    metrics = meta["metrics"]
    assert abs(metrics["int8_vs_fp32_test"]["accuracy_delta_points"]) <= 1.5
    assert metrics["test"]["accuracy"] > metrics["test_majority_class_baseline"]["accuracy"] + 0.2
    assert (SHIPPED / "model.onnx").stat().st_size <= 30 * 2**20
