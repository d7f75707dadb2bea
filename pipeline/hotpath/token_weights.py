"""Per-piece weights toward the alert class, used at serving time to name the words behind an alert.

The weight of a vocabulary piece is its smoothed log-odds of appearing in an alert-class text versus
any other training text (document frequency, a pseudo-count per class). Pieces seen in fewer than
``min_count`` texts, function words (in more than ``max_doc_share`` of all texts: "was", "my") and
punctuation get no weight, so explanations name content words. Computed once at build time, so an
explanation costs a dictionary lookup per word instead of extra model runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

METHOD = "smoothed document log-odds of the alert class vs the rest, training split"


def log_odds_weights(
    piece_ids: Sequence[Sequence[int]],
    is_alert: np.ndarray,
    vocabulary: Sequence[str],
    *,
    pseudo_count: float = 1.0,
    min_count: int = 5,
    max_doc_share: float = 0.05,
) -> dict[str, float]:
    """{piece: log-odds} for readable content pieces seen in at least ``min_count`` training texts."""
    n_vocab = len(vocabulary)
    alert_docs = np.zeros(n_vocab, dtype=np.float64)
    other_docs = np.zeros(n_vocab, dtype=np.float64)
    for ids, alert in zip(piece_ids, is_alert, strict=True):
        unique = np.unique(np.asarray(ids, dtype=np.int64))
        (alert_docs if alert else other_docs)[unique] += 1.0
    n_alert = float(np.sum(is_alert))
    n_other = float(len(is_alert)) - n_alert
    alert_rate = (alert_docs + pseudo_count) / (n_alert + 2 * pseudo_count)
    other_rate = (other_docs + pseudo_count) / (n_other + 2 * pseudo_count)
    log_odds = np.log(alert_rate / (1 - alert_rate)) - np.log(other_rate / (1 - other_rate))
    weights: dict[str, float] = {}
    docs = alert_docs + other_docs
    for index in np.flatnonzero((docs >= min_count) & (docs <= max_doc_share * len(is_alert))):
        piece = vocabulary[int(index)]
        if _readable(piece):
            weights[piece] = round(float(log_odds[index]), 4)
    return weights


def _readable(piece: str) -> bool:
    if piece.startswith("[") and piece.endswith("]"):  # [CLS], [UNK], ...
        return False
    return any(ch.isalnum() for ch in piece)


def save_token_weights(path: Path, weights: dict[str, float], *, alert_class: str) -> None:
    document: dict[str, Any] = {"alert_class": alert_class, "method": METHOD, "weights": weights}
    path.write_text(json.dumps(document, ensure_ascii=False, sort_keys=True), encoding="utf-8")


def load_token_weights(path: Path) -> dict[str, float]:
    document = json.loads(path.read_text(encoding="utf-8"))
    weights = document["weights"]
    if not isinstance(weights, dict):
        raise ValueError("token weights must be an object of piece -> weight")
    return {str(piece): float(w) for piece, w in weights.items() if math.isfinite(float(w))}
