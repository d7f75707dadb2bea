"""The graph a build writes for the CUDA execution provider, beside the int8 CPU graph.

fp16 weights and activations (inputs and outputs stay int64 / float32, so the worker feeds it as it
feeds the int8 graph), converted from the fp32 export. fp16 is kept when its test-split accuracy is
within ``FP16_TOLERANCE_POINTS`` of fp32's; otherwise the fp32 export itself is the GPU graph. The
comparison runs on the CPU provider here (no GPU on the build machine): `make gpu-check` measures
the graph on a real device.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.hotpath.artefacts import GPU_MODEL_FILE
from pipeline.hotpath.tokenize import TextTokenizer
from pipeline.modelbuild.heads import HeadWeights

FP16_TOLERANCE_POINTS = 0.5


def write_fp16(fp32: Path, target: Path) -> Path:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
    onnx.save(model, str(target))
    return target


def keep_fp16_or_fp32(
    fp32: Path, target: Path, labels: np.ndarray, fp32_probs: np.ndarray, fp16_probs: np.ndarray
) -> dict[str, Any]:
    """Decides the GPU graph at ``target`` (already the fp16 one); returns the card's comparison."""
    acc32 = float(np.mean(fp32_probs.argmax(1) == labels))
    acc16 = float(np.mean(fp16_probs.argmax(1) == labels))
    delta = round(100 * (acc16 - acc32), 2)
    keep = abs(delta) <= FP16_TOLERANCE_POINTS
    if not keep:
        shutil.copyfile(fp32, target)
    return {
        "file": target.name,
        "precision": "fp16" if keep else "fp32",
        "accuracy_fp32": round(acc32, 4),
        "accuracy_fp16": round(acc16, 4),
        "fp16_accuracy_delta_points": delta,
        "fp16_prediction_agreement": round(float(np.mean(fp16_probs.argmax(1) == fp32_probs.argmax(1))), 4),
        "fp16_max_abs_prob_diff": round(float(np.max(np.abs(fp16_probs - fp32_probs))), 4),
        "measured_on": "test split, CPU provider at build time",
    }


def write_fraud_gpu_graph(
    staging: Path,
    encoder_fp32: Path,
    weights: HeadWeights,
    tokenizer: TextTokenizer,
    test: tuple[list[str], np.ndarray, np.ndarray],
    threads: int,
) -> dict[str, Any]:
    """The fraud model composed on the fp32 encoder (the int8 graph's head on top), then fp16 unless
    that loses accuracy; compared on the test set (texts, features, labels)."""
    from pipeline.modelbuild.compose import compose_model
    from pipeline.modelbuild.eval_metrics import roc_auc

    texts, features, labels = test
    fp32 = compose_model(
        encoder_fp32, weights, staging.parent / f"{staging.name}.gpu-fp32.onnx", n_features=features.shape[1]
    )
    try:
        gpu = write_fp16(fp32, staging / GPU_MODEL_FILE)
        probs32, probs16 = (
            _fraud_probabilities(path, tokenizer, texts, features, threads) for path in (fp32, gpu)
        )
        report = keep_fp16_or_fp32(fp32, gpu, labels, probs32, probs16)
    finally:
        fp32.unlink(missing_ok=True)
    report["roc_auc_fp32"] = round(roc_auc(labels, probs32[:, 1]), 4)
    report["roc_auc_fp16"] = round(roc_auc(labels, probs16[:, 1]), 4)
    return report


def _fraud_probabilities(
    path: Path, tokenizer: TextTokenizer, texts: list[str], features: np.ndarray, threads: int
) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    out = []
    for start in range(0, len(texts), 64):
        batch = tokenizer.encode(texts[start : start + 64])
        feeds = {
            "input_ids": batch.input_ids,
            "attention_mask": batch.attention_mask,
            "features": np.ascontiguousarray(features[start : start + 64], dtype=np.float32),
        }
        out.append(session.run(["probabilities"], feeds)[0])
    return np.concatenate(out)
