"""Alert rules: which scored events raise an alert, and how severe it is. Thresholds come from Settings.

Rule ids are part of the alert contract (they appear in ``reasons`` and feed the alert id):

    fraud.model_score      fraud score >= fraud_threshold; severity from severity_bands
    fraud.large_amount     amount >= large_amount; medium, or high when the score also alerts
    sentiment.negative     P(negative) >= sentiment_threshold; severity from severity_bands
    sentiment.watch_term   a watch term in a text that sentiment.negative flagged: one level higher
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from pipeline.errors import ConfigurationError
from pipeline.settings import SEVERITIES, Settings
from schemas import TextEvent, Transaction

_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that fired for one event."""

    rule: str
    severity: str
    detail: str  # for a person
    drivers: tuple[str, ...] = ()  # features or tokens that explain the score


def severity_for_score(score: float, bands: Mapping[str, float]) -> str:
    """The highest severity whose band the score reaches; "low" below every band."""
    reached = [severity for severity, floor in bands.items() if score >= floor]
    return max(reached, key=_RANK.__getitem__, default="low")


def raise_severity(severity: str) -> str:
    """One level up, capped at the top."""
    return SEVERITIES[min(_RANK[severity] + 1, len(SEVERITIES) - 1)]


def overall_severity(hits: Sequence[RuleHit]) -> str:
    """The most severe of the hits."""
    if not hits:
        raise ValueError("no rule hits: there is nothing to alert on")
    return max((hit.severity for hit in hits), key=_RANK.__getitem__)


@dataclass(frozen=True, slots=True)
class Rules:
    fraud_threshold: float
    sentiment_threshold: float
    severity_bands: Mapping[str, float]
    large_amount: float
    watch_terms: tuple[str, ...] = ()
    # The served text model's alert label (its meta.json ``alert_class``): named in alert reasons.
    sentiment_alert_class: str = "negative"
    _watch_pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_bands(self.severity_bands)
        # One alternation, whole words, case-insensitive: a single pass over the text.
        terms = sorted({term.strip() for term in self.watch_terms if term.strip()}, key=len, reverse=True)
        pattern = (
            re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, terms)) + r")(?!\w)", re.IGNORECASE)
            if terms
            else None
        )
        object.__setattr__(self, "_watch_pattern", pattern)

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            fraud_threshold=settings.fraud_threshold,
            sentiment_threshold=settings.sentiment_threshold,
            severity_bands=dict(settings.severity_bands),
            large_amount=settings.large_amount,
            watch_terms=tuple(settings.watch_terms),
        )

    def fraud(self, tx: Transaction, score: float, drivers: Sequence[str]) -> list[RuleHit]:
        """Rules for a scored transaction; an empty list means no alert."""
        hits = []
        flagged = score >= self.fraud_threshold
        if flagged:
            hits.append(
                RuleHit(
                    "fraud.model_score",
                    severity_for_score(score, self.severity_bands),
                    f"fraud score {score:.3f} >= threshold {self.fraud_threshold:g}",
                    tuple(drivers),
                )
            )
        if tx.amount >= self.large_amount:
            hits.append(
                RuleHit(
                    "fraud.large_amount",
                    "high" if flagged else "medium",
                    f"amount {tx.amount:,.2f} {tx.currency} >= large amount {self.large_amount:,.2f}",
                )
            )
        return hits

    def sentiment(self, ev: TextEvent, score: float, drivers: Sequence[str]) -> list[RuleHit]:
        """Rules for a scored text; ``score`` is P(alert class). An empty list means no alert."""
        if score < self.sentiment_threshold:
            return []
        severity = severity_for_score(score, self.severity_bands)
        hits = [
            RuleHit(
                "sentiment.negative",
                severity,
                f"P({self.sentiment_alert_class}) {score:.3f} >= threshold {self.sentiment_threshold:g}",
                tuple(drivers),
            )
        ]
        terms = self.watch_terms_in(ev.text)
        if terms:
            hits.append(
                RuleHit(
                    "sentiment.watch_term",
                    raise_severity(severity),
                    f"watch {'term' if len(terms) == 1 else 'terms'} "
                    f"{', '.join(repr(term) for term in terms)} in a {self.sentiment_alert_class} text",
                    terms,
                )
            )
        return hits

    def watch_terms_in(self, text: str) -> tuple[str, ...]:
        """Watch terms found in ``text`` (whole words, any case), in order of first appearance."""
        if self._watch_pattern is None:
            return ()
        found = dict.fromkeys(match.group().casefold() for match in self._watch_pattern.finditer(text))
        return tuple(found)


def _check_bands(bands: Mapping[str, float]) -> None:
    unknown = set(bands) - set(SEVERITIES)
    if unknown:
        raise ConfigurationError(f"unknown severities {sorted(unknown)} in severity_bands; use {SEVERITIES}")
    ordered = sorted(bands.items(), key=lambda item: _RANK[item[0]])
    for (lower, lower_floor), (higher, higher_floor) in pairwise(ordered):
        if higher_floor < lower_floor:
            raise ConfigurationError(
                f"severity_bands: {higher} starts at {higher_floor} below {lower} at {lower_floor}"
            )
    if any(not 0.0 <= floor <= 1.0 for floor in bands.values()):
        raise ConfigurationError(f"severity_bands must lie in [0, 1]: {dict(bands)}")
