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


@pytest.mark.parametrize("name", ["sentiment", "sentiment-student"])
def test_a_sentiment_card_says_the_worker_runs_one_text_per_model_call(name: str) -> None:
    card = (SHIPPED / name / "MODEL_CARD.md").read_text()
    assert "padded to the longest in a batch" not in card
    assert "one model call per text" in card and "batch_independent=True" in card
