"""pipeline.tooling.tail.render: what a person sees for each kind of record."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group
from rich.text import Text

from pipeline.tooling.tail import FETCH_MAX_WAIT_MS, SEVERITY_STYLES, consumer_options, render


def plain(topic: str, value: dict[str, Any]) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None, markup=False, emoji=False)
    console.print(render(topic, value))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


SCORE: dict[str, Any] = {
    "event_id": "tx-1",
    "kind": "fraud",
    "score": 0.9712,
    "label": "fraud",
    "probabilities": {"fraud": 0.9712, "legit": 0.0288},
    "model": {"name": "fraud-minilm", "version": "1", "provider": "CPUExecutionProvider"},
    "timestamps": {"event": 1.0, "ingested": 2.0, "scored": 3.0, "published": 10.5},
    "latency_ms": 8.5,
    "sla_ms": 20.0,
    "sla_met": True,
}
ALERT: dict[str, Any] = {
    **SCORE,
    "alert_id": "al-1",
    "severity": "critical",
    "reasons": [
        {"rule": "fraud_score", "detail": "score 0.97 >= 0.5", "drivers": ["amount", "country"]},
        {"rule": "large_amount", "detail": "amount 8,400 >= 5,000", "drivers": []},
    ],
    "event": {"event_id": "tx-1", "amount": 8400.0},
}


def test_alert_shows_severity_score_event_reasons_and_latency() -> None:
    output = plain("alerts.fraud", ALERT)
    first_line = output.splitlines()[0]
    assert "CRITICAL" in first_line and "fraud" in first_line
    assert "0.97" in first_line and "tx-1" in first_line
    assert "8.5 ms within SLA" in first_line
    assert "fraud_score: score 0.97 >= 0.5" in output and "amount, country" in output
    assert "large_amount: amount 8,400 >= 5,000" in output


def test_alert_severity_has_its_colour() -> None:
    for severity, style in SEVERITY_STYLES.items():
        rendered = render("alerts.fraud", {**ALERT, "severity": severity})
        assert isinstance(rendered, Group)
        first_line = rendered.renderables[0]
        assert isinstance(first_line, Text)
        assert any(span.style == style for span in first_line.spans), severity


def test_alert_over_sla_says_so() -> None:
    output = plain("alerts.sentiment", {**ALERT, "kind": "sentiment", "latency_ms": 31.0, "sla_met": False})
    assert "31.0 ms OVER 20.00 ms SLA" in output


def test_score_is_one_compact_line() -> None:
    output = plain("scores.transactions", SCORE)
    assert output.strip() == "tx-1  fraud 0.97 fraud  8.5 ms within SLA"


def test_dead_letter_shows_error_and_source() -> None:
    record = {
        "error": {"type": "missing_field", "message": "amount: Field required", "field": "amount"},
        "source": {"topic": "transactions", "partition": 2, "offset": 41},
        "raw": "e30=",
        "received_at": 1.0,
    }
    output = plain("deadletter", record)
    assert "DEAD LETTER" in output
    assert "missing_field (amount): amount: Field required" in output
    assert "from transactions[2]@41" in output


def test_inputs_and_unknown_records_render_as_text() -> None:
    text = plain("texts", {"event_id": "txt-1", "text": "[bold]app[/bold]  down\nagain", "source": "social"})
    assert text.strip() == "txt-1  [social] [bold]app[/bold] down again"  # markup printed literally
    transaction = render(
        "transactions",
        {"event_id": "tx-2", "account_id": "acct-1", "amount": 12.5, "currency": "EUR", "merchant": "Lidl"},
    )
    assert transaction == "tx-2  acct-1  12.50 EUR  Lidl"
    assert render("other", {"a": 1}) == '{"a":1}'


def test_long_texts_are_shortened() -> None:
    rendered = render("texts", {"event_id": "t", "text": "word " * 100})
    assert isinstance(rendered, str) and rendered.endswith("…") and len(rendered) < 130


def test_missing_fields_do_not_crash_rendering() -> None:
    odd_records: list[dict[str, Any]] = [
        {"alert_id": "a", "severity": "bogus"},
        {"error": None, "source": None},
        {"score": "x", "kind": 1},
    ]
    for value in odd_records:
        assert plain("any", value).strip()


def test_the_tail_consumer_asks_for_a_short_fetch_wait_and_joins_no_group() -> None:
    """The embedded broker holds a fetch for up to about its wait: with a client default of 500 ms a
    subscriber saw alerts ~130-260 ms late. The tail's consumer must ask for a short one."""
    options = consumer_options("127.0.0.1:9092", {"security_protocol": "SSL"})
    assert options["fetch_max_wait_ms"] == FETCH_MAX_WAIT_MS <= 10
    assert options["group_id"] is None and options["enable_auto_commit"] is False
    assert options["security_protocol"] == "SSL" and options["bootstrap_servers"] == "127.0.0.1:9092"
