"""The 3-layer student shipped in ``models/sentiment-student`` still scores what its model card says.

Re-creates the build's seeded test split from the build config in meta.json (as
``test_shipped_sentiment`` does for the 6-layer model) and scores all of it with the serving loader.
"""

from __future__ import annotations

import pytest

from pipeline.hotpath.artefacts import STUDENT_MODEL, is_complete, read_meta, serving_model_path
from tests.unit.modelbuild.shipped import assert_test_accuracy_matches_card
from tests.unit.modelbuild.smoke import REPO_MODELS

SHIPPED = REPO_MODELS / STUDENT_MODEL
TOLERANCE = 0.015  # accuracy points (as a fraction) the shipped model may drift from its card
BATCH = 64

pytestmark = pytest.mark.skipif(
    not is_complete(SHIPPED, "sentiment"),
    reason=f"no shipped student at {SHIPPED} (python -m pipeline.modelbuild build --only sentiment-student)",
)


def test_shipped_student_accuracy_matches_its_card() -> None:
    model = serving_model_path(REPO_MODELS, STUDENT_MODEL, "sentiment")
    assert_test_accuracy_matches_card(model, tolerance=TOLERANCE, batch=BATCH)


def test_shipped_student_is_a_small_int8_drop_in_for_sentiment() -> None:
    meta = read_meta(SHIPPED)
    assert meta["kind"] == "sentiment" and meta["smoke"] is False
    assert meta["inputs"] == ["input_ids", "attention_mask"] and meta["output"] == "probabilities"
    assert meta["head"]["layers"] == 3
    metrics = meta["metrics"]
    assert abs(metrics["int8_vs_fp32_test"]["accuracy_delta_points"]) <= 1.5
    assert metrics["test"]["accuracy"] > metrics["test_majority_class_baseline"]["accuracy"] + 0.2
    assert (SHIPPED / "model.onnx").stat().st_size <= 30 * 2**20
