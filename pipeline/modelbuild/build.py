"""Builds the classifiers into ``<model_dir>/<target>/``: export, quantize, train, compose, verify.

Targets are the default model of each kind (``sentiment``, ``fraud``; built when missing) and the
optional ``sentiment-student`` (a 3-layer distilled "sentiment" model; built only when asked for).

The encoder is exported and quantized once per build and shared by both models. Each model is
written into a temporary directory inside ``model_dir`` and renamed into place when complete, so a
reader never sees a half-written model.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.hotpath.artefacts import BUILD_TARGETS, KINDS, STUDENT_MODEL, is_complete, read_meta
from pipeline.modelbuild.build_config import (
    FULL_CONFIG,
    SMOKE_CONFIG,
    BuildConfig,
    BuildContext,
    SentimentMethod,
)
from pipeline.modelbuild.build_progress import BuildProgress
from pipeline.modelbuild.model_writer import install_model_dir

log = logging.getLogger(__name__)

# Under the model directory; holds fine-tuned weights so a failed export does not retrain.
CACHE_DIR = ".cache"

Builder = Callable[[Path, BuildContext], dict[str, Any]]

TARGETS = BUILD_TARGETS


def _builders() -> dict[str, Builder]:
    from pipeline.modelbuild.fraud import build_fraud
    from pipeline.modelbuild.sentiment import build_sentiment
    from pipeline.modelbuild.sentiment_student import build_student_sentiment

    def sentiment(staging: Path, context: BuildContext) -> dict[str, Any]:
        if context.config.sentiment.method == "finetune":
            from pipeline.modelbuild.sentiment_finetune import build_finetuned_sentiment

            return build_finetuned_sentiment(staging, context)
        return build_sentiment(staging, context)

    return {"sentiment": sentiment, "fraud": build_fraud, STUDENT_MODEL: build_student_sentiment}


def is_target_built(model_dir: Path, target: str) -> bool:
    return is_complete(Path(model_dir) / target, TARGETS[target])


def build_models(
    model_dir: Path,
    *,
    smoke: bool = False,
    force: bool = False,
    progress: bool = True,
    config: BuildConfig | None = None,
    sentiment: SentimentMethod | None = None,
    kinds: Sequence[str] = KINDS,
) -> dict[str, dict[str, Any]]:
    """Builds each missing model of ``kinds`` (build targets: keys of ``TARGETS``; every one with
    ``force``); returns meta.json of each. ``sentiment`` picks the sentiment method ("head" or
    "finetune") over the config's."""
    model_dir = Path(model_dir)
    config = config or (SMOKE_CONFIG if smoke else FULL_CONFIG)
    if sentiment is not None:
        config = config.with_sentiment_method(sentiment)
    unknown = set(kinds) - set(TARGETS)
    if unknown:
        raise ValueError(f"unknown model kinds {sorted(unknown)}; expected some of {tuple(TARGETS)}")
    todo = [kind for kind in TARGETS if kind in kinds and (force or not is_target_built(model_dir, kind))]
    results: dict[str, dict[str, Any]] = {
        kind: read_meta(model_dir / kind) for kind in TARGETS if kind in kinds and kind not in todo
    }
    if not todo:
        return results

    started = time.perf_counter()
    model_dir.mkdir(parents=True, exist_ok=True)
    _seed_everything(config)
    builders = _builders()
    with (
        tempfile.TemporaryDirectory(dir=model_dir, prefix=".build-") as work_dir,
        BuildProgress(progress) as reporter,
    ):
        work = Path(work_dir)
        context = prepare_context(work, config, smoke=smoke, reporter=reporter)
        context.cache_dir = model_dir / CACHE_DIR
        for kind in todo:
            staging = work / kind
            staging.mkdir()
            results[kind] = builders[kind](staging, context)
            install_model_dir(staging, model_dir / kind)
            log.info(
                "built %s model %s in %.1f s", kind, results[kind]["version"], results[kind]["build_seconds"]
            )
        steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in reporter.timings.items())
    log.info("model build finished in %.1f s (%s)", time.perf_counter() - started, steps)
    return {kind: results[kind] for kind in TARGETS if kind in results}


def _seed_everything(config: BuildConfig) -> None:
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)


def prepare_context(
    work: Path,
    config: BuildConfig,
    *,
    smoke: bool,
    reporter: BuildProgress,
    calibration_texts: list[str] | None = None,
) -> BuildContext:
    """The int8 encoder in ``work``, its activation ranges calibrated on ``calibration_texts``
    (default: texts of the fraud training generator), and what every builder shares."""
    from pipeline.hotpath.tokenize import TextTokenizer
    from pipeline.modelbuild.embed import OnnxEmbedder
    from pipeline.modelbuild.encoder import encoder_files, export_encoder
    from pipeline.modelbuild.quantize import quantize_int8_static

    tokenizer = TextTokenizer.from_file(encoder_files() / "tokenizer.json", max_tokens=config.max_tokens)
    with reporter.step("encoder: export all-MiniLM-L6-v2 to ONNX"):
        fp32 = export_encoder(work / "encoder.fp32.onnx")
    texts = calibration_texts if calibration_texts is not None else _encoder_calibration(config)
    with reporter.step(f"encoder: int8 static quantization, calibrated on {len(texts):,} transaction texts"):
        int8 = quantize_int8_static(fp32, work / "encoder.int8.onnx", tokenizer, texts)
    embedder = OnnxEmbedder(int8, tokenizer, threads=config.threads)
    return BuildContext(config, smoke, int8, fp32, tokenizer, embedder, reporter)


def _encoder_calibration(config: BuildConfig) -> list[str]:
    """Texts from the fraud training generator (its seed): the encoder serves transaction texts."""
    from pipeline.features.model_inputs import transaction_text
    from pipeline.modelbuild.data import load_transactions
    from pipeline.modelbuild.fraud import SEED_OFFSETS

    rows = min(config.calibration_texts, config.fraud.train_rows)
    data = load_transactions(
        rows, seed=config.seed + SEED_OFFSETS["train"], fraud_rate=config.fraud.fraud_rate
    )
    return [transaction_text(tx) for tx in data.transactions]
