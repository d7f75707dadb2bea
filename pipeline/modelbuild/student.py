"""A smaller sentiment student: layer dropping (3 of the 6 MiniLM layers) + knowledge distillation.

The student is the fine-tuned teacher (or the pretrained encoder) with only ``StudentConfig.layers``
kept; embeddings, the kept layers and the head start from there. It is then trained on the training
split with ``w * T^2 * KL(teacher_T || student_T) + (1 - w) * CE(labels)``, where the teacher's
probabilities over the training texts are computed once beforehand. Validation runs every
``eval_every`` steps and the check with the lowest validation loss is kept. Weights are cached like
the teacher's (``finetune.py``), keyed by everything that shapes them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.modelbuild.build_config import StudentConfig
from pipeline.modelbuild.finetune import (
    SentimentNet,
    adamw_with_warmup,
    encode_tensors,
    length_buckets,
    load_checkpoint,
    log_progress,
    new_net,
    optimize,
    planned_steps,
    save_checkpoint,
    training_texts,
    validate,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistilResult:
    net: SentimentNet
    steps: int
    train_seconds: float
    kept_step: int
    history: list[dict[str, float]]
    cached: bool


def drop_layers(net: SentimentNet, keep: Sequence[int]) -> SentimentNet:
    """A copy of ``net`` whose encoder runs only the transformer layers ``keep`` (in that order)."""
    layers = net.encoder.encoder.layer
    if not keep or any(not 0 <= i < len(layers) for i in keep):
        raise ValueError(f"layers to keep {tuple(keep)} must be within 0..{len(layers) - 1}")
    student = copy.deepcopy(net)
    student.encoder.encoder.layer = torch.nn.ModuleList([student.encoder.encoder.layer[i] for i in keep])
    student.encoder.config.num_hidden_layers = len(keep)
    return student


def initial_student(teacher: SentimentNet | None, config: StudentConfig, n_classes: int) -> SentimentNet:
    """Layer-dropped copy of the teacher, or of the pretrained encoder (with a new head)."""
    base = teacher if teacher is not None else new_net(n_classes, config.dropout)
    student = drop_layers(base, config.layers)
    student.dropout.p = config.dropout
    return student


def distil_key(
    config: StudentConfig, seed: int, origin: str, texts: Sequence[str], labels: np.ndarray
) -> str:
    """Cache key: config, seed, data and ``origin``, which names the teacher (its own cache key, so
    its soft targets are determined) and where the initial weights came from."""
    document = {"config": asdict(config), "seed": seed, "origin": origin}
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def distillation_loss(
    logits: torch.Tensor, labels: torch.Tensor, teacher_probs: torch.Tensor, temperature: float, weight: float
) -> torch.Tensor:
    """``weight * T^2 * KL(teacher_T || student_T) + (1 - weight) * CE(labels)``; teacher_T is the
    teacher's distribution re-tempered from its probabilities (softmax(log p / T))."""
    soft_target = torch.softmax(torch.log(teacher_probs.clamp(min=1e-8)) / temperature, dim=-1)
    log_student = torch.log_softmax(logits / temperature, dim=-1)
    kl = torch.nn.functional.kl_div(log_student, soft_target, reduction="batchmean")
    ce = torch.nn.functional.cross_entropy(logits, labels)
    return weight * temperature**2 * kl + (1.0 - weight) * ce


def distil(
    student: SentimentNet,
    train_texts: Sequence[str],
    train_labels: np.ndarray,
    teacher_probs: Callable[[], np.ndarray],
    val_texts: Sequence[str],
    val_labels: np.ndarray,
    *,
    tokenizer_file: Path,
    config: StudentConfig,
    seed: int,
    origin: str,
    cache_dir: Path | None = None,
    on_step: Callable[[int], None] | None = None,
) -> DistilResult:
    """Trains (or loads from ``cache_dir``) the student in place; returns it in eval mode.
    ``teacher_probs`` gives the teacher's probabilities over ``train_texts`` (called only to train)."""
    key = distil_key(config, seed, origin, [*train_texts, "\1", *val_texts], train_labels)
    cached = cache_dir / f"sentiment-student-{key}.pt" if cache_dir is not None else None
    info = load_checkpoint(cached, student)
    if info is not None:
        log.info("student weights loaded from %s", cached)
        return DistilResult(
            student.eval(), int(info["steps"]), float(info["train_seconds"]), int(info["kept_step"]),
            list(info["history"]), cached=True,
        )  # fmt: skip

    torch.manual_seed(seed)
    torch.set_num_threads(config.threads)
    net = student
    tokenizer, lengths = training_texts(net, config, tokenizer_file, train_texts)
    labels = torch.from_numpy(np.asarray(train_labels, dtype=np.int64))
    soft = torch.from_numpy(np.asarray(teacher_probs(), dtype=np.float32))
    total = planned_steps(len(train_texts), config.epochs, config.batch_size, config.max_steps)
    optimisation = adamw_with_warmup(net, config, total)
    rng = np.random.default_rng(seed)
    history: list[dict[str, float]] = []
    best_loss, kept_step, best_state = float("inf"), 0, net.state_dict()
    started = time.perf_counter()
    step, epoch, running = 0, 0, 0.0

    def check() -> None:
        nonlocal best_loss, kept_step, best_state
        val_loss, val_acc = validate(net, tokenizer, val_texts, val_labels, config.eval_batch)
        net.train()
        history.append({"epoch": epoch, "step": step, "val_loss": val_loss, "val_accuracy": val_acc})
        log.info("step %d (epoch %d): val loss %.4f accuracy %.4f", step, epoch, val_loss, val_acc)
        if val_loss < best_loss:
            best_loss, kept_step = val_loss, step
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    while step < total:
        epoch += 1
        net.train()
        for batch in length_buckets(lengths, config.batch_size, config.bucket_batches, rng):
            if step >= total:
                break
            input_ids, mask = encode_tensors(tokenizer, [train_texts[i] for i in batch])
            loss = distillation_loss(
                net(input_ids, mask), labels[batch], soft[batch], config.temperature, config.distill_weight
            )
            running += optimize(loss, *optimisation)
            step += 1
            if on_step is not None:
                on_step(1)
            if step % config.log_every == 0:
                log_progress(step, total, epoch, running / config.log_every, started)
                running = 0.0
            if step % config.eval_every == 0 or step == total:
                check()
    net.load_state_dict(best_state)
    seconds = round(time.perf_counter() - started, 1)
    info = {"steps": step, "train_seconds": seconds, "kept_step": kept_step, "history": history}
    save_checkpoint(cached, net, info)
    return DistilResult(net.eval(), step, seconds, kept_step, history, cached=False)
