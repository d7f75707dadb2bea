"""Builds the fraud model: synthetic transactions -> text embeddings + features -> 2-class head."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.features.model_inputs import (
    FEATURE_NAMES,
    replay_velocities,
    transaction_features_batch,
    transaction_text,
)
from pipeline.features.velocity import VELOCITY_FEATURE_NAMES
from pipeline.hotpath.token_weights import log_odds_weights
from pipeline.modelbuild.build_config import BuildContext
from pipeline.modelbuild.data import LabelledTransactions, load_transactions
from pipeline.modelbuild.eval_metrics import binary_report, roc_auc
from pipeline.modelbuild.gpu_graph import write_fraud_gpu_graph
from pipeline.modelbuild.heads import HeadConfig, HeadWeights, head_probabilities, train_head
from pipeline.modelbuild.model_writer import write_model
from schemas.transaction import Transaction

NAME = "minilm-l6-fraud-head"
_PARITY_SAMPLE = 32
_OPTIONAL_FIELDS = ("channel", "country", "mcc")
# Seed of each set: the build config's seed plus this offset (independent sets, reproducible).
SEED_OFFSETS = {"train": 101, "val": 202, "test": 303, "test_shifted": 404}


def data_description(train: int, val: int, test: int, shifted: int, fraud_rate: float) -> str:
    return (
        f"{train:,} training, {val:,} validation and {test:,} test transactions at {fraud_rate:.0%} fraud "
        f"(independent seeds), plus {shifted:,} from the shifted generator (other merchants; description "
        "templates never generated for training; typology variants training never sees: slow card "
        "testing, daytime account takeover, cash-out structured in 4-8 steps; scaled amounts)."
    )


def blank_optional_fields(
    transactions: Sequence[Transaction], rate: float, *, seed: int
) -> list[Transaction]:
    """Each optional field is set to None with probability ``rate``, independently (augmentation)."""
    rng = np.random.default_rng(seed)
    draws = rng.random((len(transactions), len(_OPTIONAL_FIELDS))) < rate
    out = []
    for tx, blank in zip(transactions, draws, strict=True):
        update = {name: None for name, b in zip(_OPTIONAL_FIELDS, blank, strict=True) if b}
        out.append(tx.model_copy(update=update) if update else tx)
    return out


def build_fraud(staging: Path, context: BuildContext) -> dict[str, Any]:
    started = time.perf_counter()
    config, step = context.config, context.progress.step
    settings = config.fraud

    with step("fraud: generate synthetic transactions"):
        sets = {
            "train": load_transactions(
                settings.train_rows, seed=config.seed + SEED_OFFSETS["train"], fraud_rate=settings.fraud_rate
            ),
            "val": load_transactions(
                settings.val_rows, seed=config.seed + SEED_OFFSETS["val"], fraud_rate=settings.fraud_rate
            ),
            "test": load_transactions(
                settings.test_rows, seed=config.seed + SEED_OFFSETS["test"], fraud_rate=settings.fraud_rate
            ),
            "test_shifted": load_transactions(
                settings.shifted_rows,
                seed=config.seed + SEED_OFFSETS["test_shifted"],
                fraud_rate=settings.fraud_rate,
                shifted=True,
            ),
        }
        train_rows = blank_optional_fields(
            sets["train"].transactions, settings.missing_field_rate, seed=config.seed
        )
        rows = {name: data.transactions for name, data in sets.items()} | {"train": train_rows}
        texts = {name: [transaction_text(tx) for tx in txs] for name, txs in rows.items()}
        # Velocity as the worker's table would see each set streamed in time order.
        features = {
            name: transaction_features_batch(txs, replay_velocities(txs)) for name, txs in rows.items()
        }

    inputs = embed_sets(context, texts, features)

    y = {name: data.labels for name, data in sets.items()}
    with step("fraud: train head", total=settings.head.epochs) as advance:
        weights = train_head(
            inputs["train"],
            y["train"],
            inputs["val"],
            y["val"],
            2,
            settings.head,
            on_epoch=lambda epoch, loss: advance(1),
        )
    scores = {name: head_probabilities(weights, x)[:, 1] for name, x in inputs.items()}
    metrics: dict[str, Any] = {
        name: binary_report(y[name], scores[name], settings.threshold)
        for name in ("val", "test", "test_shifted")
    }
    metrics["test_recall_by_typology"] = _recall_by_typology(sets["test"], scores["test"], settings.threshold)
    with step("fraud: ablations (text only, features only, without velocity)"):
        metrics["test_ablation_roc_auc"] = _ablations(inputs, y, config.seed)

    data = {
        "source": "pipeline.synthetic.transactions.generate_transactions_detailed",
        "description": data_description(
            settings.train_rows,
            settings.val_rows,
            settings.test_rows,
            settings.shifted_rows,
            settings.fraud_rate,
        ),
        "rows": {name: len(txs) for name, txs in rows.items()},
        "fraud_rate": settings.fraud_rate,
        "missing_field_rate": settings.missing_field_rate,
        "seeds": {name: config.seed + offset for name, offset in SEED_OFFSETS.items()},
    }
    return write_fraud_model(
        staging,
        context,
        name=NAME,
        weights=weights,
        train=(texts["train"], y["train"]),
        test=(texts["test"], features["test"], y["test"]),
        metrics=metrics,
        data=data,
        started=started,
    )


def embed_sets(
    context: BuildContext, texts: dict[str, list[str]], features: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each set's model input: the int8 encoder's embedding of its texts, then its features."""
    all_texts = [text for name in texts for text in texts[name]]
    n_unique = len(set(all_texts))
    with context.progress.step(
        f"fraud: embed {n_unique:,} distinct texts (int8 encoder)", total=n_unique
    ) as advance:
        embedded = context.embedder.embed_unique(all_texts, on_batch=advance)
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for name in texts:
        n = len(texts[name])
        inputs[name] = np.concatenate([embedded[offset : offset + n], features[name]], axis=1)
        offset += n
    return inputs


def write_fraud_model(
    staging: Path,
    context: BuildContext,
    *,
    name: str,
    weights: HeadWeights,
    train: tuple[list[str], np.ndarray],
    test: tuple[list[str], np.ndarray, np.ndarray],
    metrics: dict[str, Any],
    data: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    """Token weights from the training (texts, labels), the GPU graph checked on the test (texts,
    features, labels), the served graph composed and verified; returns meta.json's content."""
    step = context.progress.step
    with step("fraud: token weights"):
        token_weights = log_odds_weights(
            context.tokenizer.piece_ids(train[0]),
            train[1] == 1,
            context.tokenizer.vocabulary(),
            min_count=context.config.token_min_count,
        )
    with step("fraud: GPU graph (fp16, or fp32 where fp16 loses accuracy)"):
        metrics["gpu_graph"] = write_fraud_gpu_graph(
            staging, context.encoder_fp32, weights, context.tokenizer, test, context.config.threads
        )
    sample = slice(0, min(_PARITY_SAMPLE, len(test[0])))
    with step("fraud: compose, write and verify"):
        return write_model(
            staging,
            kind="fraud",
            name=name,
            context=context,
            weights=weights,
            feature_names=FEATURE_NAMES,
            token_weights=token_weights,
            metrics=metrics,
            data=data,
            parity_inputs=(test[0][sample], test[1][sample]),
            started=started,
        )


def _recall_by_typology(data: LabelledTransactions, score: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of each true typology's rows flagged (legit: the false-positive rate)."""
    typologies = np.array(data.typologies)
    return {
        str(name): round(float(np.mean(score[typologies == name] >= threshold)), 4)
        for name in sorted(set(data.typologies))
    }


def _ablations(inputs: dict[str, np.ndarray], y: dict[str, np.ndarray], seed: int) -> dict[str, float]:
    """Test ROC-AUC of logistic heads on parts of the input (text alone, features alone, no velocity)."""
    n_features, n_velocity = len(FEATURE_NAMES), len(VELOCITY_FEATURE_NAMES)
    parts = {
        "all": slice(None),  # the same logistic head on every input: the yardstick for the others
        "text_only": slice(0, -n_features),
        "features_only": slice(-n_features, None),
        # What the worker's velocity table buys: everything but the velocity columns (they come last).
        "without_velocity": slice(0, -n_velocity),
    }
    config = HeadConfig(hidden=0, epochs=20, batch_size=512, seed=seed)
    out = {}
    for name, columns in parts.items():
        head = train_head(
            inputs["train"][:, columns], y["train"], inputs["val"][:, columns], y["val"], 2, config
        )
        out[name] = round(roc_auc(y["test"], head_probabilities(head, inputs["test"][:, columns])[:, 1]), 4)
    return out
