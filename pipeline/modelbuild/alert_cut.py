"""The alert threshold of a text model, chosen on validation for a stated false-alert rate.

A fixed cut (STREAMGUARD_SENTIMENT_THRESHOLD, 0.7) means a different false-alert rate for every model
and every kind of text; choosing the cut on the model's own validation split states the rate instead:
at most ``rate`` of the validation texts that are not of the alert class score at or above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_FALSE_ALERT_RATE = 0.05
_DECIMALS = 4  # the cut is rounded up to this many places: readable, and never more alerts


@dataclass(frozen=True, slots=True)
class AlertCut:
    threshold: float
    false_alert_rate: float  # the rate asked for
    false_alerts: float  # the share of non-alert-class texts at or above the cut, where it was chosen
    recall: float  # the share of alert-class texts at or above the cut, where it was chosen
    n_alert_class: int
    n_other: int

    def as_meta(self) -> dict[str, float | int | str]:
        return {
            "chosen_on": "validation",
            "false_alert_rate": self.false_alert_rate,
            "validation_false_alerts": round(self.false_alerts, 4),
            "validation_recall": round(self.recall, 4),
            "validation_alert_class": self.n_alert_class,
            "validation_other": self.n_other,
        }


def alert_rates(score: np.ndarray, is_alert_class: np.ndarray, threshold: float) -> tuple[float, float]:
    """(share of other texts alerting, share of alert-class texts alerting) at ``threshold``."""
    # In float64, as the lane compares (``float(probs[i]) >= threshold``): a float32 comparison
    # rounds the cut to the score's precision and can let a text at the cut alert.
    alerts = np.asarray(score, dtype=np.float64) >= threshold
    others, positives = alerts[~is_alert_class], alerts[is_alert_class]
    return (
        float(others.mean()) if others.size else 0.0,
        float(positives.mean()) if positives.size else 0.0,
    )


def check_rate(rate: float, *, error: type[Exception] = ValueError) -> None:
    """Raises ``error`` unless ``rate`` is a share in [0, 1)."""
    if not 0.0 <= rate < 1.0:
        raise error(f"the false-alert rate must lie in [0, 1), not {rate}")


def choose_alert_cut(
    score: np.ndarray, is_alert_class: np.ndarray, rate: float = DEFAULT_FALSE_ALERT_RATE
) -> AlertCut:
    """The lowest cut on P(alert class) at which at most ``rate`` of the other texts alert.

    ``score`` is P(alert class) per text, ``is_alert_class`` whether the text's label is that class.
    The cut is at most 1.0 (the setting's bound): where more other texts than the rate allows score
    exactly 1.0, it is 1.0 and ``false_alerts`` says how many alert there.
    """
    check_rate(rate)
    score = np.asarray(score, dtype=np.float64)
    is_alert_class = np.asarray(is_alert_class, dtype=bool)
    others = np.sort(score[~is_alert_class])[::-1]
    if not others.size or not is_alert_class.any():
        raise ValueError("choosing an alert cut needs texts of the alert class and of the other classes")
    allowed = math.floor(rate * others.size)  # below others.size, as rate < 1
    # Just above the (allowed+1)-th highest other score: at most ``allowed`` others are strictly higher.
    cut = float(np.nextafter(others[allowed], np.inf))
    cut = min(math.ceil(cut * 10**_DECIMALS) / 10**_DECIMALS, 1.0)
    false_alerts, recall = alert_rates(score, is_alert_class, cut)
    return AlertCut(
        threshold=cut,
        false_alert_rate=rate,
        false_alerts=false_alerts,
        recall=recall,
        n_alert_class=int(is_alert_class.sum()),
        n_other=int(others.size),
    )
