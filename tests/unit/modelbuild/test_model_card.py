from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pipeline.modelbuild.card import render_model_card

SHIPPED = Path(__file__).resolve().parents[3] / "models"


@pytest.mark.parametrize("name", ["fraud", "sentiment", "sentiment-student"])
def test_a_shipped_card_is_what_its_meta_renders(name: str) -> None:
    """Edits to a card go through ``pipeline.modelbuild.card``, so a rebuild keeps them."""
    meta = orjson.loads((SHIPPED / name / "meta.json").read_bytes())
    assert (SHIPPED / name / "MODEL_CARD.md").read_text() == render_model_card(meta)


@pytest.mark.parametrize("name", ["fraud", "sentiment", "sentiment-student"])
def test_a_card_states_the_batch_effect_its_build_measured(name: str) -> None:
    """The card says what the worker does (true batches) and the measured bound, not one call per text."""
    meta = orjson.loads((SHIPPED / name / "meta.json").read_bytes())
    card = " ".join((SHIPPED / name / "MODEL_CARD.md").read_text().split())
    assert "one model call per text" not in card
    assert "static int8 quantization" in card
    measured = meta["serving_parity"]["batch_vs_single_max_abs_diff"]
    assert f"max |diff| {measured} (the build fails above 0.001)" in card
    assert meta["batch_independent"] is True


@pytest.mark.parametrize("name", ["fraud", "sentiment", "sentiment-student"])
def test_a_shipped_model_has_a_gpu_graph_whose_precision_the_card_justifies(name: str) -> None:
    """fp16 only where it loses at most half a point of test accuracy against fp32, else fp32."""
    meta = orjson.loads((SHIPPED / name / "meta.json").read_bytes())
    gpu = meta["metrics"]["gpu_graph"]
    assert (SHIPPED / name / gpu["file"]).is_file()
    assert gpu["precision"] == ("fp16" if abs(gpu["fp16_accuracy_delta_points"]) <= 0.5 else "fp32")
    card = " ".join((SHIPPED / name / "MODEL_CARD.md").read_text().split())
    assert f"gpu graph: file {gpu['file']}, precision {gpu['precision']}" in card
