"""Cheap scores for an overloaded lane (``STREAMGUARD_OVERLOAD_POLICY=shed``). Pure: no model run.

A fallback turns what the model build already ships into a logistic score in microseconds per
event: the per-vocabulary-piece log-odds toward the alert class in ``token_weights.json`` (the
weights that name an alert's words), averaged per word and summed over the distinct words of the
text, plus for a transaction a fixed weight per notable feature (``features.feature_drivers``:
large or tiny amount, night time, card used abroad, cash-out merchant, account velocity...).

    p(alert) = sigmoid(prior + sum of word weights + driver_weight * number of drivers)

The numbers are coarse and uncalibrated, which is why every score made this way carries
``degraded: true``: it keeps an overloaded worker on time, not as accurate as the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.features import model_inputs as features
from pipeline.hotpath.artefacts import TOKEN_WEIGHTS_FILE, TOKENIZER_FILE, read_meta
from pipeline.hotpath.token_weights import load_token_weights
from pipeline.hotpath.tokenize import TextTokenizer
from schemas import TextEvent, Transaction

# Log-odds of the alert class before any evidence: fraud is rare, negative text about one in three.
PRIORS = {"fraud": -3.0, "sentiment": -0.7}
# Log-odds added per notable transaction feature.
DRIVER_WEIGHT = 1.0


class TokenWeightFallback:
    """Probabilities [B, C] from token weights (and, for transactions, feature drivers)."""

    def __init__(
        self,
        tokenizer: TextTokenizer,
        weights: dict[str, float],
        *,
        labels: Sequence[str],
        alert_class: str,
        prior: float,
        text_of: Callable[[Any], str],
        extra_logit: Callable[[Any, Any], float] | None = None,
    ) -> None:
        self._tokenizer = tokenizer
        self._weights = weights
        self.labels = tuple(labels)
        self._alert = self.labels.index(alert_class)
        self._prior = prior
        self._text_of = text_of
        self._extra_logit = extra_logit

    @classmethod
    def load(cls, model_path: Path, *, max_tokens: int = 128) -> TokenWeightFallback:
        """The fallback for the model built in ``model_path`` (same tokenizer and labels)."""
        meta = read_meta(model_path)
        kind = str(meta["kind"])
        labels = [str(label) for label in meta["labels"]]
        alert_class = str(meta.get("alert_class", "fraud" if kind == "fraud" else "negative"))
        tokenizer = TextTokenizer.from_file(model_path / TOKENIZER_FILE, max_tokens=max_tokens)
        weights = load_token_weights(model_path / TOKEN_WEIGHTS_FILE)
        if kind == "fraud":
            return cls(
                tokenizer,
                weights,
                labels=labels,
                alert_class=alert_class,
                prior=PRIORS["fraud"],
                text_of=_transaction_text,
                extra_logit=_driver_logit,
            )
        return cls(
            tokenizer,
            weights,
            labels=labels,
            alert_class=alert_class,
            prior=PRIORS["sentiment"],
            text_of=_text,
        )

    def alert_logit(self, event: Any, context: Any = None) -> float:
        weights = self._weights
        seen: set[str] = set()
        logit = self._prior
        for word in self._tokenizer.words(self._text_of(event)):
            key = word.text.lower()
            if key in seen:
                continue
            seen.add(key)
            logit += sum(weights.get(piece, 0.0) for piece in word.pieces) / len(word.pieces)
        if self._extra_logit is not None:
            logit += self._extra_logit(event, context)
        return logit

    def predict(self, events: Sequence[Any], contexts: Sequence[Any] | None = None) -> np.ndarray:
        """[B, C]: the alert class gets sigmoid(logit), the other classes share the rest evenly."""
        contexts = contexts if contexts is not None else [None] * len(events)
        probs = np.empty((len(events), len(self.labels)), dtype=np.float32)
        others = max(len(self.labels) - 1, 1)
        for row, (event, context) in enumerate(zip(events, contexts, strict=True)):
            alert = _sigmoid(self.alert_logit(event, context))
            probs[row, :] = (1.0 - alert) / others
            probs[row, self._alert] = alert
        return probs


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _text(event: TextEvent) -> str:
    return event.text


def _transaction_text(tx: Transaction) -> str:
    return features.transaction_text(tx)


def _driver_logit(tx: Transaction, context: Any) -> float:
    # The context, when the worker has one, is the account's velocity (what feature_drivers takes).
    drivers = features.feature_drivers(tx) if context is None else features.feature_drivers(tx, context)
    return DRIVER_WEIGHT * len(drivers)
