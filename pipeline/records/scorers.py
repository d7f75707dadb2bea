"""From a batch of validated events to the records StreamGuard publishes. Pure: no Faust, no I/O.

A ``Scorer`` owns one model and knows its kind's conventions: which text and features feed the
model, which probability is the score, which label is shown, which rules may raise an alert and
which topics the score and the alert go to. An event may come with a *context*: state the worker
looked up for it before batching (a transaction's account velocity); it is ``None`` when there is none.

Explanations are computed on masked text (``masking.mask_text``): a token driver is a word of what
the alert may show, never a fragment of a card or phone number ("+44 20 7946 0958" once gave the
drivers ``0958, 20, 7946``). The model itself still reads the text as sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from pipeline.errors import ConfigurationError
from pipeline.features import model_inputs as features
from pipeline.features.velocity import NO_HISTORY, Velocity
from pipeline.records import payloads as records
from pipeline.records.masking import mask_text
from pipeline.records.rules import RuleHit, Rules
from pipeline.settings import Settings
from schemas import TextEvent, Transaction

E = TypeVar("E", Transaction, TextEvent)


class Classifier(Protocol):
    kind: str
    labels: tuple[str, ...]
    name: str
    version: str
    provider: str

    def predict(self, texts: Sequence[str], features: np.ndarray | None = None) -> np.ndarray: ...

    def token_drivers(self, text: str, k: int = 3) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    key: bytes
    value: bytes
    severity: str | None = None  # set on an alert, for metrics without parsing the value


class Scorer(Generic[E]):
    """Scores one kind of event with one classifier and turns predictions into records."""

    def __init__(
        self,
        classifier: Classifier,
        *,
        score_topic: str,
        alert_topic: str,
        alert_class: str,
        threshold: float,
        sla_ms: float,
    ) -> None:
        self.classifier = classifier
        self.kind = classifier.kind
        self.score_topic = score_topic
        self.alert_topic = alert_topic
        self.sla_ms = sla_ms
        self._labels = classifier.labels
        self._alert_index = classifier.labels.index(alert_class)
        self._threshold = threshold
        self._model = {
            "name": classifier.name,
            "version": classifier.version,
            "provider": classifier.provider,
        }

    # -- hooks per kind ----------------------------------------------------------------------
    def model_inputs(
        self, events: Sequence[E], contexts: Sequence[Any] | None = None
    ) -> tuple[list[str], np.ndarray | None]:
        raise NotImplementedError

    def label(self, probs: np.ndarray) -> str:
        return self._labels[int(np.argmax(probs))]

    def rule_hits(self, event: E, score: float, context: Any) -> list[RuleHit]:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def infer(self, events: Sequence[E], contexts: Sequence[Any] | None = None) -> np.ndarray:
        """Probabilities [B, C]; runs in the inference thread."""
        texts, feats = self.model_inputs(events, contexts)
        return self.classifier.predict(texts, feats)

    def outputs(
        self,
        event: E,
        probs: np.ndarray,
        *,
        context: Any = None,
        ingested: float,
        scored: float,
        published: float,
        degraded: bool = False,
    ) -> list[Output]:
        score = float(probs[self._alert_index])
        record = records.score_record(
            kind=self.kind,
            event_id=event.event_id,
            probabilities={label: float(p) for label, p in zip(self._labels, probs, strict=True)},
            score=score,
            label=self.label(probs),
            model=self._model,
            event_ts=event.timestamp,
            ingested=ingested,
            scored=scored,
            published=published,
            sla_ms=self.sla_ms,
            degraded=degraded,
        )
        key = event.event_id.encode()
        out = [Output(self.score_topic, key, records.to_json(record))]
        hits = self.rule_hits(event, score, context)
        if hits:
            alert = records.alert_record(record, hits, event.model_dump(mode="json", exclude_none=True))
            out.append(Output(self.alert_topic, key, records.to_json(alert), alert["severity"]))
        return out


def served_threshold(classifier: Classifier, settings: Settings, setting: str) -> float:
    """The model's own threshold (meta.json ``threshold``) unless the setting was given."""
    # Test doubles may carry no meta: they are our own models, which state no threshold.
    meta: dict[str, Any] = getattr(classifier, "meta", {})
    if "threshold" in meta and setting not in settings.model_fields_set:
        return float(meta["threshold"])
    return float(getattr(settings, setting))


class FraudScorer(Scorer[Transaction]):
    def __init__(self, classifier: Classifier, rules: Rules, settings: Settings) -> None:
        threshold = served_threshold(classifier, settings, "fraud_threshold")
        super().__init__(
            classifier,
            score_topic=settings.topic_scores_transactions,
            alert_topic=settings.topic_alerts_fraud,
            alert_class="fraud",
            threshold=threshold,
            sla_ms=settings.sla_ms,
        )
        self._rules = replace(rules, fraud_threshold=threshold)

    def model_inputs(
        self, events: Sequence[Transaction], contexts: Sequence[Any] | None = None
    ) -> tuple[list[str], np.ndarray | None]:
        texts = [features.transaction_text(tx) for tx in events]
        velocities = None if contexts is None else [_velocity(c) for c in contexts]
        return texts, features.transaction_features_batch(events, velocities)

    def label(self, probs: np.ndarray) -> str:
        # The label follows the alert threshold, not argmax, so "fraud" means "would alert".
        return "fraud" if float(probs[self._alert_index]) >= self._threshold else "legit"

    def rule_hits(self, event: Transaction, score: float, context: Any) -> list[RuleHit]:
        if not self._rules.fraud(event, score, ()):
            return []  # the common case: skip computing explanations
        drivers = features.feature_drivers(event, _velocity(context)) + self.classifier.token_drivers(
            mask_text(features.transaction_text(event))
        )
        return self._rules.fraud(event, score, drivers)


class SentimentScorer(Scorer[TextEvent]):
    """Scores texts with whatever text classifier is served: its labels, its alert class
    (meta.json ``alert_class``, "negative" for ours) and its threshold (meta.json ``threshold``)
    unless STREAMGUARD_SENTIMENT_THRESHOLD is set."""

    def __init__(self, classifier: Classifier, rules: Rules, settings: Settings) -> None:
        # Test doubles may carry no meta: they are our own sentiment models.
        meta: dict[str, Any] = getattr(classifier, "meta", {})
        alert_class = str(meta.get("alert_class", "negative"))
        if alert_class not in classifier.labels:
            raise ConfigurationError(
                f"text model {classifier.name} has no label {alert_class!r} to alert on "
                f"(labels: {', '.join(classifier.labels)})"
            )
        threshold = served_threshold(classifier, settings, "sentiment_threshold")
        super().__init__(
            classifier,
            score_topic=settings.topic_scores_texts,
            alert_topic=settings.topic_alerts_sentiment,
            alert_class=alert_class,
            threshold=threshold,
            sla_ms=settings.sla_ms,
        )
        self._rules = replace(rules, sentiment_threshold=threshold, sentiment_alert_class=alert_class)

    def model_inputs(
        self, events: Sequence[TextEvent], contexts: Sequence[Any] | None = None
    ) -> tuple[list[str], np.ndarray | None]:
        return [ev.text for ev in events], None

    def rule_hits(self, event: TextEvent, score: float, context: Any) -> list[RuleHit]:
        if not self._rules.sentiment(event, score, ()):
            return []
        return self._rules.sentiment(event, score, self.classifier.token_drivers(mask_text(event.text)))


def _velocity(context: Any) -> Velocity:
    # A transaction scored without the worker's table (a test, a tool) has no known history.
    return context if isinstance(context, Velocity) else NO_HISTORY
