"""``python -m pipeline.modelbuild rescore fraud``: re-measure the shipped fraud model on its shifted set.

The shifted generator is evaluation data only: training never reads it, so changing it changes no
weight. Rebuilding the model to re-measure it would write a new encoder graph (the ONNX export is not
byte-stable) and move every other figure a little; instead the shipped model is scored as the worker
serves it (serving loader, head and embedding cache, batches of 64) on the shifted set that the current
generator makes from the build's own seed and sizes, and meta.json and the card are rewritten with the
new figures and a record of when and why they were re-scored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.features.model_inputs import replay_velocities, transaction_features_batch, transaction_text
from pipeline.hotpath.artefacts import META_FILE, MODEL_CARD_FILE, model_path, read_meta
from pipeline.hotpath.inference import OnnxClassifier
from pipeline.modelbuild.card import render_model_card
from pipeline.modelbuild.data import LabelledTransactions, load_transactions
from pipeline.modelbuild.eval_metrics import binary_report
from pipeline.modelbuild.fraud import SEED_OFFSETS, data_description
from pipeline.modelbuild.model_writer import write_json

BATCH = 64


def served_fraud_scores(classifier: OnnxClassifier, data_rows: LabelledTransactions) -> np.ndarray:
    """P(fraud) for each row as the worker scores it: batches of ``BATCH``, velocity replayed in time
    order as the worker's table would see the stream."""
    txs = data_rows.transactions
    velocities = replay_velocities(txs)
    return np.concatenate(
        [
            classifier.predict(
                [transaction_text(tx) for tx in txs[start : start + BATCH]],
                transaction_features_batch(txs[start : start + BATCH], velocities[start : start + BATCH]),
            )[:, 1]
            for start in range(0, len(txs), BATCH)
        ]
    )


def rescore_shifted(model_dir: Path) -> dict[str, Any]:
    """Rewrites ``metrics.test_shifted`` of the fraud model in ``model_dir``; returns the new meta."""
    path = model_path(model_dir, "fraud")
    meta = read_meta(path)
    config = meta["build_config"]
    settings = config["fraud"]
    shifted = load_transactions(
        settings["shifted_rows"],
        seed=config["seed"] + SEED_OFFSETS["test_shifted"],
        fraud_rate=settings["fraud_rate"],
        shifted=True,
    )
    before = meta["metrics"].get("test_shifted")
    scores = served_fraud_scores(OnnxClassifier.load(path, threads=2), shifted)
    report = binary_report(shifted.labels, scores, settings["threshold"])
    meta["metrics"]["test_shifted"] = report
    train, val, test = (settings[f"{name}_rows"] for name in ("train", "val", "test"))
    meta["data"]["description"] = data_description(
        train, val, test, settings["shifted_rows"], settings["fraud_rate"]
    )
    meta["rescored"] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "splits": ["test_shifted"],
        "why": "the shifted generator changed (it now holds out whole templates and typology variants)",
        "command": "python -m pipeline.modelbuild rescore fraud",
        "before": before,
    }
    write_json(path / META_FILE, meta)
    (path / MODEL_CARD_FILE).write_text(render_model_card(meta), encoding="utf-8")
    return meta
