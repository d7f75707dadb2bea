"""Rules: thresholds, severity bands, large amounts and watch terms, all from Settings."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import ConfigurationError
from pipeline.records.rules import RuleHit, Rules, overall_severity, raise_severity, severity_for_score
from pipeline.settings import SEVERITIES, load_settings
from schemas import TextEvent, Transaction
from tests.unit.event_factories import text_event, transaction

BANDS = {"medium": 0.8, "high": 0.9, "critical": 0.97}


@pytest.fixture
def rules() -> Rules:
    return Rules.from_settings(
        load_settings(
            fraud_threshold=0.5,
            sentiment_threshold=0.7,
            severity_bands=BANDS,
            large_amount=5000.0,
            watch_terms=("outage", "breach", "data leak"),
        )
    )


def tx(**overrides: Any) -> Transaction:
    return Transaction.model_validate(transaction(**overrides))


def text(body: str) -> TextEvent:
    return TextEvent.model_validate(text_event(text=body))


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0.0, "low"),
        (0.79, "low"),
        (0.8, "medium"),
        (0.899, "medium"),
        (0.9, "high"),
        (0.97, "critical"),
        (1.0, "critical"),
    ],
)
def test_severity_bands(score: float, severity: str) -> None:
    assert severity_for_score(score, BANDS) == severity


@given(st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=1))
def test_severity_never_falls_as_score_rises(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert SEVERITIES.index(severity_for_score(low, BANDS)) <= SEVERITIES.index(
        severity_for_score(high, BANDS)
    )


def test_fraud_below_threshold_is_quiet(rules: Rules) -> None:
    assert rules.fraud(tx(amount=10), 0.49, ["amount"]) == []


def test_fraud_model_score_carries_drivers(rules: Rules) -> None:
    [hit] = rules.fraud(tx(amount=10), 0.5, ["amount_zscore", "night_time"])
    assert hit.rule == "fraud.model_score"
    assert hit.severity == "low"  # at the threshold, below every band
    assert hit.drivers == ("amount_zscore", "night_time")
    assert "0.500" in hit.detail


def test_fraud_bands(rules: Rules) -> None:
    assert rules.fraud(tx(amount=10), 0.95, [])[0].severity == "high"
    assert rules.fraud(tx(amount=10), 0.99, [])[0].severity == "critical"


def test_large_amount_alone_is_medium(rules: Rules) -> None:
    [hit] = rules.fraud(tx(amount=5000, currency="EUR"), 0.1, [])
    assert (hit.rule, hit.severity) == ("fraud.large_amount", "medium")
    assert "5,000.00 EUR" in hit.detail


def test_large_amount_with_score_is_high(rules: Rules) -> None:
    hits = rules.fraud(tx(amount=9000), 0.6, ["amount"])
    assert [h.rule for h in hits] == ["fraud.model_score", "fraud.large_amount"]
    assert hits[1].severity == "high"
    assert overall_severity(hits) == "high"


def test_sentiment_below_threshold_is_quiet(rules: Rules) -> None:
    assert rules.sentiment(text("total outage again"), 0.69, ["outage"]) == []


def test_sentiment_negative(rules: Rules) -> None:
    [hit] = rules.sentiment(text("this is awful"), 0.85, ["awful"])
    assert (hit.rule, hit.severity, hit.drivers) == ("sentiment.negative", "medium", ("awful",))


def test_watch_term_raises_one_level_and_names_the_term(rules: Rules) -> None:
    hits = rules.sentiment(text("Another OUTAGE, and now a data leak."), 0.85, ["outage"])
    assert [h.rule for h in hits] == ["sentiment.negative", "sentiment.watch_term"]
    assert hits[1].severity == "high"
    assert hits[1].drivers == ("outage", "data leak")
    assert "'outage'" in hits[1].detail
    assert overall_severity(hits) == "high"


def test_watch_term_is_capped_at_critical(rules: Rules) -> None:
    hits = rules.sentiment(text("breach"), 0.99, [])
    assert overall_severity(hits) == "critical"


def test_watch_terms_match_whole_words_only(rules: Rules) -> None:
    assert rules.watch_terms_in("breaches and outages") == ()
    assert rules.watch_terms_in("(outage)") == ("outage",)


def test_watch_term_needs_a_negative_text(rules: Rules) -> None:
    assert rules.sentiment(text("planned outage tonight"), 0.2, []) == []


def test_severity_helpers() -> None:
    assert raise_severity("low") == "medium"
    assert raise_severity("critical") == "critical"
    hits = [RuleHit("a", "medium", ""), RuleHit("b", "critical", ""), RuleHit("c", "low", "")]
    assert overall_severity(hits) == "critical"
    with pytest.raises(ValueError, match="no rule hits"):
        overall_severity([])


@pytest.mark.parametrize(
    "bands",
    [{"medium": 0.9, "high": 0.8}, {"critical": 1.5}],
)
def test_bad_bands_fail_at_start(bands: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        Rules(fraud_threshold=0.5, sentiment_threshold=0.7, severity_bands=bands, large_amount=1.0)


def test_default_settings_build_rules() -> None:
    rules = Rules.from_settings(load_settings())
    assert rules.watch_terms_in("we were hacked") == ("hacked",)
