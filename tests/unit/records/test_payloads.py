"""Score and alert records: shapes match the schemas, alert ids are deterministic, PII is masked."""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pipeline.errors import ModelOutputError
from pipeline.records.payloads import alert_id, alert_record, score_record, to_json
from pipeline.records.rules import RuleHit
from schemas import AlertRecord, ScoreRecord
from schemas.export import build_schema
from tests.unit.event_factories import transaction

MODEL = {"name": "fraud-gbm", "version": "1.2.0", "provider": "CPUExecutionProvider"}


def fraud_score(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "kind": "fraud",
        "event_id": "tx-1",
        "probabilities": {"legit": 0.08, "fraud": 0.92},
        "score": 0.92,
        "label": "fraud",
        "model": MODEL,
        "event_ts": 1714564800123.0,
        "ingested": 1000.0,
        "scored": 1008.5,
        "published": 1012.0,
        "sla_ms": 20.0,
    }
    args.update(overrides)
    return score_record(**args)


HITS = [
    RuleHit("fraud.model_score", "high", "fraud score 0.920 >= threshold 0.5", ("amount_zscore",)),
    RuleHit("fraud.large_amount", "high", "amount 9,000.00 EUR >= large amount 5,000.00"),
]


def test_score_record_fields() -> None:
    record = fraud_score()
    assert record["latency_ms"] == 12.0
    assert record["sla_met"] is True
    assert record["timestamps"] == {
        "event": 1714564800123.0,
        "ingested": 1000.0,
        "scored": 1008.5,
        "published": 1012.0,
    }
    ScoreRecord.model_validate(record)
    assert Draft202012Validator(build_schema("scores.transactions")).is_valid(record)


def test_sla_boundary() -> None:
    assert fraud_score(published=1020.0)["sla_met"] is True
    assert fraud_score(published=1020.001)["sla_met"] is False


def test_probabilities_are_rounded() -> None:
    record = fraud_score(probabilities={"legit": 1 / 3, "fraud": np.float32(2 / 3)})
    assert record["probabilities"] == {"legit": 0.333333, "fraud": 0.666667}
    assert orjson.loads(to_json(record))["probabilities"]["fraud"] == 0.666667


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1.01, -0.5])
def test_a_score_that_is_no_probability_is_an_error(bad: float) -> None:
    with pytest.raises(ModelOutputError):
        fraud_score(score=bad)
    with pytest.raises(ModelOutputError):
        fraud_score(probabilities={"fraud": bad})


def test_float32_overshoot_is_clamped() -> None:
    assert fraud_score(score=1.0000001)["score"] == 1.0


def test_alert_record() -> None:
    event = transaction(description="paid with 4111 1111 1111 1111", metadata={"email": "jane@example.com"})
    alert = alert_record(fraud_score(), HITS, event)
    assert alert["severity"] == "high"
    assert alert["reasons"][0] == {
        "rule": "fraud.model_score",
        "detail": "fraud score 0.920 >= threshold 0.5",
        "drivers": ["amount_zscore"],
    }
    assert alert["event"]["description"] == "paid with **** **** **** 1111"
    assert alert["event"]["metadata"]["email"] == "j***@example.com"
    assert alert["score"] == 0.92 and alert["event_id"] == "tx-1"
    AlertRecord.model_validate(alert)
    assert Draft202012Validator(build_schema("alerts.fraud")).is_valid(orjson.loads(to_json(alert)))


def test_alert_id_is_deterministic_and_order_free() -> None:
    first = alert_id("tx-1", ["fraud.model_score", "fraud.large_amount"])
    assert first == alert_id("tx-1", ["fraud.large_amount", "fraud.model_score", "fraud.model_score"])
    assert uuid.UUID(first).version == 5
    assert alert_record(fraud_score(), HITS, {})["alert_id"] == first


@given(
    st.text(max_size=30),
    st.lists(st.text(max_size=10), min_size=1, max_size=3),
    st.text(min_size=1, max_size=10),
)
def test_alert_id_differs_across_rules_and_events(event_id: str, rules: list[str], extra: str) -> None:
    base = alert_id(event_id, rules)
    assert base == alert_id(event_id, list(reversed(rules)))
    if extra not in rules:
        assert alert_id(event_id, [*rules, extra]) != base
    assert alert_id(event_id + "x", rules) != base


def test_alert_id_is_unambiguous() -> None:
    # A naive "event_id|rules" join would make these equal.
    assert alert_id("a|b", ["c"]) != alert_id("a", ["b|c"])


def test_to_json_accepts_numpy_and_mappings() -> None:
    from types import MappingProxyType

    assert orjson.loads(to_json(MappingProxyType({"x": np.float32(0.5), "v": np.array([1, 2])}))) == {
        "x": 0.5,
        "v": [1, 2],
    }
