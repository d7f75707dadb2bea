from __future__ import annotations

import numpy as np
import pytest

from pipeline.modelbuild.data import (
    clean_tweet,
    load_transactions,
    load_tweets,
    near_duplicate_key,
    stratified_split,
    subsample,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("@VirginAmerica I\x8a\x97Èm having trouble", "@VirginAmerica I'm having trouble"),
        ("äóìThis is a nightmare.äó\x9d", '"This is a nightmare."'),
        ("so good _ôÖ\x89_ôÖ\x89 #Coachella2015", "so good #Coachella2015"),
        ("Mas info aquí http://t.co/x", "Mas info aquí http://t.co/x"),
        ("rain &amp; delays\r\r again", "rain & delays again"),
        ("read more https://t.co/äó_", "read more https://t.co/..."),
    ],
)
def test_clean_tweet(raw: str, clean: str) -> None:
    assert clean_tweet(raw) == clean


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("RT @united: Thanks for the upgrade!! http://t.co/abc", "thanks for the UPGRADE"),
        ("rt @a: RT @b : so   good :)", "So good"),
        ("Delayed again... www.example.com/x #fail", "delayed again #FAIL"),
        ("@VirginAmerica I'm having trouble", "@virginamerica i m having trouble"),
    ],
)
def test_copies_of_a_tweet_share_a_near_duplicate_key(a: str, b: str) -> None:
    assert near_duplicate_key(a) == near_duplicate_key(b) != ""


@pytest.mark.parametrize(
    ("a", "b"),
    [("not delayed", "delayed"), ("@united thanks", "@delta thanks"), ("RTs are fine", "s are fine")],
)
def test_different_tweets_keep_different_keys(a: str, b: str) -> None:
    assert near_duplicate_key(a) != near_duplicate_key(b)


def test_tweets_load_cleaned_and_deduplicated_on_normalised_text() -> None:
    tweets = load_tweets()
    keys = [near_duplicate_key(t) for t in tweets.texts]
    assert len(tweets.texts) > 34_000 and len(set(keys)) == len(keys) and all(keys)
    assert set(np.unique(tweets.labels)) == {0, 1, 2}
    assert not any("\x8a" in t or "äó" in t for t in tweets.texts)


def test_split_is_seeded_disjoint_and_stratified() -> None:
    labels = np.repeat([0, 1, 2], [500, 300, 200])
    a, b = stratified_split(labels, seed=1), stratified_split(labels, seed=1)
    np.testing.assert_array_equal(a.test, b.test)
    parts = [set(a.train), set(a.val), set(a.test)]
    assert sum(len(p) for p in parts) == len(labels) and len(set().union(*parts)) == len(labels)
    assert np.bincount(labels[a.val]).tolist() == [50, 30, 20]
    assert not np.array_equal(stratified_split(labels, seed=2).test, a.test)


def test_subsample_is_seeded() -> None:
    index = np.arange(100)
    np.testing.assert_array_equal(subsample(index, 10, seed=3), subsample(index, 10, seed=3))
    assert len(subsample(index, 10, seed=3)) == 10 and subsample(index, 500, seed=3) is index


def test_transactions_are_valid_events_with_labels() -> None:
    data = load_transactions(400, seed=5, fraud_rate=0.1)
    assert len(data.transactions) == len(data.labels) == len(data.typologies) == 400
    assert int(data.labels.sum()) == 40
