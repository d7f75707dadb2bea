"""Build configurations (full and smoke) and the context shared by the per-model builders."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.models.embed import OnnxEmbedder
from pipeline.models.heads import HeadConfig
from pipeline.models.progress import BuildProgress
from pipeline.tokenize import TextTokenizer

MODEL_VERSION = "0.1.0"


@dataclass(frozen=True)
class SentimentConfig:
    train_limit: int | None = None  # None: the whole training split
    eval_limit: int | None = None  # per validation and test split
    val_share: float = 0.1
    test_share: float = 0.1
    monitoring_texts: int = 2_000  # out-of-domain evaluation rows (pipeline.synthetic_texts)
    head: HeadConfig = field(
        default_factory=lambda: HeadConfig(hidden=256, dropout=0.3, epochs=40, batch_size=256)
    )


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
    sentiment: SentimentConfig = field(default_factory=SentimentConfig)
    fraud: FraudConfig = field(default_factory=FraudConfig)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """Short hash of everything that shapes the model; part of the version string."""
        canonical = json.dumps({"version": MODEL_VERSION, **self.as_dict()}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:8]

    @property
    def version(self) -> str:
        return f"{MODEL_VERSION}+{self.fingerprint()}"


FULL_CONFIG = BuildConfig()
# A few seconds of work per model: proves the whole path (export, train, compose, load) in tests.
SMOKE_CONFIG = BuildConfig(
    token_min_count=2,
    sentiment=SentimentConfig(
        train_limit=800,
        eval_limit=200,
        monitoring_texts=200,
        head=HeadConfig(hidden=0, epochs=8, batch_size=128),
    ),
    fraud=FraudConfig(
        train_rows=1_500,
        val_rows=500,
        test_rows=500,
        shifted_rows=500,
        fraud_rate=0.1,
        head=HeadConfig(hidden=0, epochs=8, batch_size=128),
    ),
)


@dataclass
class BuildContext:
    """What every per-model builder needs: config, the shared int8 encoder and progress output."""

    config: BuildConfig
    smoke: bool
    encoder_int8: Path
    tokenizer: TextTokenizer
    embedder: OnnxEmbedder
    progress: BuildProgress
