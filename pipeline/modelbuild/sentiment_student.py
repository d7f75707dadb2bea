"""Builds the 3-layer sentiment student (``<model_dir>/sentiment-student``): a drop-in "sentiment" model.

The 6-layer fine-tuned teacher comes from the same cached ``finetune`` call as the shipped sentiment
model (``<model_dir>/.cache``; without the cache it is trained first, ~17 min). Its fp32 ONNX export
scores the training texts once (the soft targets) and the test split (the teacher's reference
figures, measured in the same run as the student's). The student keeps ``StudentConfig.layers`` of the
teacher (or of the pretrained encoder), is distilled (``pipeline.modelbuild.student``) and shipped like
the teacher: int8 ONNX, same inputs, outputs, labels, split and evaluation.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.hotpath.artefacts import LABELS
from pipeline.modelbuild.build_config import BuildContext
from pipeline.modelbuild.encoder import OPSET, encoder_files
from pipeline.modelbuild.eval_metrics import classification_report
from pipeline.modelbuild.finetune import export_finetuned, planned_steps
from pipeline.modelbuild.onnx_scoring import OnnxProbabilities
from pipeline.modelbuild.quantize import quantize_int8_static
from pipeline.modelbuild.sentiment import split_tweets
from pipeline.modelbuild.sentiment_finetune import (
    finetune_sentiment,
    finetune_steps,
    ship_finetuned,
)
from pipeline.modelbuild.student import distil, initial_student

NAME = "minilm-l3-sentiment-student"


def build_student_sentiment(staging: Path, context: BuildContext) -> dict[str, Any]:
    import torch

    started = time.perf_counter()
    config, step = context.config, context.progress.step
    settings = config.student
    splits = split_tweets(context)
    _, train, val, test = splits
    tokenizer_file = encoder_files() / "tokenizer.json"

    total = finetune_steps(context, train)
    with step(f"student: 6-layer teacher (cached, else {total} fine-tuning steps)", total=total) as advance:
        teacher = finetune_sentiment(context, train, val, on_step=advance)
    teacher_key = teacher.cache_key
    torch.set_num_threads(config.threads)
    work = staging.parent
    teacher_fp32 = export_finetuned(teacher.net, work / "teacher.fp32.onnx", opset=OPSET)
    # Quantized as the served 6-layer model is, so the comparison table compares served graphs.
    teacher_int8 = quantize_int8_static(
        teacher_fp32, work / "teacher.int8.onnx", context.tokenizer, train.texts[: config.calibration_texts]
    )
    with step("student: teacher fp32 and int8 on the test split"):
        reference: dict[str, Any] = {"cache_key": teacher_key, "weights_from_cache": teacher.cached}
        for precision, path in (("fp32", teacher_fp32), ("int8", teacher_int8)):
            probs = OnnxProbabilities(path, context.tokenizer, config.threads)(test.texts)
            reference[f"test_{precision}"] = classification_report(test.labels, probs)

    def soft_targets() -> np.ndarray:
        with step(f"student: teacher soft targets on {len(train.texts):,} training texts"):
            key = f"{teacher_key}-{config.max_tokens}"
            return _soft_targets(teacher_fp32, train.texts, context, key)

    student = initial_student(
        teacher.net if settings.init == "teacher" else None, settings, len(LABELS["sentiment"])
    )
    # Names the teacher (hence the soft targets: its fp32 ONNX export over the training texts).
    origin = f"{settings.init}; soft targets: teacher {teacher_key} fp32 ONNX, {config.max_tokens} tokens"
    steps = planned_steps(len(train.texts), settings.epochs, settings.batch_size, settings.max_steps)
    layers = ",".join(str(i) for i in settings.layers)
    with step(f"student: distil layers {layers} ({steps} steps)", total=steps) as advance:
        result = distil(
            student,
            train.texts,
            train.labels,
            soft_targets,
            val.texts,
            val.labels,
            tokenizer_file=tokenizer_file,
            config=settings,
            seed=config.seed,
            origin=origin,
            cache_dir=context.cache_dir,
            on_step=advance,
        )
    training = {
        "method": (
            f"layer dropping (teacher layers {list(settings.layers)} of 6, initialised from "
            f"{'the fine-tuned teacher' if settings.init == 'teacher' else 'pretrained all-MiniLM-L6-v2'}) "
            f"+ distillation: {settings.distill_weight} * T^2 * KL(teacher_T || student_T) + "
            f"{1 - settings.distill_weight:g} * CE, T = {settings.temperature}"
        ),
        "layers": list(settings.layers),
        "init": settings.init,
        "steps": result.steps,
        "train_minutes": round(result.train_seconds / 60, 1),
        "kept_step": result.kept_step,
        "history": result.history,
        "word_embeddings_frozen": settings.freeze_word_embeddings,
        "weights_from_cache": result.cached,
    }
    meta = ship_finetuned(
        staging,
        context,
        result.net,
        name=NAME,
        label="student",
        splits=splits,
        training=training,
        kept_step=result.kept_step,
        head={"hidden": 0, "pooling": "mean", "layers": len(settings.layers), "training": training},
        started=started,
        extra_metrics={"teacher": reference},
        encoder_training=f"distilled {len(settings.layers)}-layer student",
        latency_peers=[
            (teacher_fp32, reference, "latency_ms_fp32"),
            (teacher_int8, reference, "latency_ms_int8"),
        ],
    )
    teacher_fp32.unlink()
    teacher_int8.unlink()
    return meta


def _soft_targets(teacher_fp32: Path, texts: list[str], context: BuildContext, key: str) -> np.ndarray:
    """The teacher's probabilities over ``texts`` (fp32 ONNX), cached next to the teacher's weights."""
    cached = context.cache_dir / f"sentiment-teacher-probs-{key}.npy" if context.cache_dir else None
    if cached is not None and cached.is_file():
        probs = np.load(cached)
        if probs.shape == (len(texts), len(LABELS["sentiment"])):
            return np.asarray(probs, dtype=np.float32)
    probs = OnnxProbabilities(teacher_fp32, context.tokenizer, context.config.threads)(texts)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial.npy")
        np.save(partial, probs)
        partial.rename(cached)
    return probs
