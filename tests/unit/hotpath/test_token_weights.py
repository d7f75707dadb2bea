from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.hotpath.token_weights import load_token_weights, log_odds_weights, save_token_weights

VOCAB = ["[PAD]", "terrible", "great", "the", "!", "rare"]
DOCS = [[1, 3], [1, 3, 4], [1, 3], [2, 3], [2, 3, 4], [2, 3, 5]]
ALERT = np.array([True, True, True, False, False, False])


def test_log_odds_point_toward_the_alert_class() -> None:
    weights = log_odds_weights(DOCS, ALERT, VOCAB, min_count=2, max_doc_share=1.0)
    assert weights["terrible"] > 0 > weights["great"]
    assert abs(weights["the"]) < 1e-9
    assert "!" not in weights and "[PAD]" not in weights  # not readable
    assert "rare" not in weights  # seen once


def test_function_words_in_most_texts_get_no_weight() -> None:
    weights = log_odds_weights(DOCS, ALERT, VOCAB, min_count=2, max_doc_share=0.6)
    assert "the" not in weights and "terrible" in weights


def test_round_trip(tmp_path: Path) -> None:
    save_token_weights(tmp_path / "w.json", {"bad": 1.5, "good": -2.0}, alert_class="negative")
    assert load_token_weights(tmp_path / "w.json") == {"bad": 1.5, "good": -2.0}
