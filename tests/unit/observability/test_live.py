"""pipeline.observability.live: the alert ring, the sliding window and the percentiles the dashboard shows."""

from __future__ import annotations

import math
import random

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.observability.live import LATENCY_EDGES_MS, LiveState, percentile

T0 = 1_700_000_000_000.0  # epoch ms on a bucket boundary (divisible by 2 s)


def alert(event_id: str, severity: str = "high", **extra: object) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "alert_id": f"a-{event_id}",
            "severity": severity,
            "score": 0.93,
            "latency_ms": 4.2,
            "sla_met": True,
            "timestamps": {"published": T0},
            "reasons": [{"rule": "model_score", "detail": "score 0.93 >= 0.5", "drivers": ["amount"]}],
            "event": {"amount": 4999.0, "currency": "EUR", "merchant": "CRYPTO", "account_id": "acc-***"},
            **extra,
        }
    )


def test_alerts_newest_first_and_bounded() -> None:
    live = LiveState(max_alerts=3)
    for i in range(5):
        live.observe_alert("fraud", "high", alert(f"e{i}"), T0 + i)
    shown = live.alerts_since(0)
    assert [a["event_id"] for a in shown] == ["e4", "e3", "e2"]
    assert [a["seq"] for a in shown] == [5, 4, 3]
    assert live.last_alert_seq == 5
    assert [a["event_id"] for a in live.alerts_since(4)] == ["e4"]
    assert live.alerts_since(5) == []
    assert live.totals["alerts"] == 5
    assert live.alerts_by_severity == {"high": 5}


def test_alert_summary_fields_and_masked_brief() -> None:
    live = LiveState()
    live.observe_alert("fraud", "critical", alert("e1", severity="critical"), T0)
    (a,) = live.alerts_since(0)
    assert a["kind"] == "fraud" and a["severity"] == "critical" and a["alert_id"] == "a-e1"
    assert a["reasons"] == [{"rule": "model_score", "detail": "score 0.93 >= 0.5", "drivers": ["amount"]}]
    assert a["published"] == T0
    # Only identifying fields are carried to the page, not the whole (masked) event.
    assert a["event"] == {"amount": 4999.0, "currency": "EUR", "merchant": "CRYPTO"}


def test_unreadable_alert_is_still_listed() -> None:
    live = LiveState()
    live.observe_alert("sentiment", "low", b"{not json", T0)
    live.observe_alert("sentiment", "low", b"[1, 2]", T0)
    shown = live.alerts_since(0)
    assert len(shown) == 2
    assert shown[1]["error"] == "unreadable record"
    assert shown[0]["reasons"] == [] and shown[0]["severity"] == "unknown"


def test_long_text_is_shortened() -> None:
    live = LiveState()
    live.observe_alert("sentiment", "high", alert("t", event={"text": "x" * 500}), T0)
    assert len(live.alerts_since(0)[0]["event"]["text"]) == 200


def test_window_counts_rates_and_series() -> None:
    live = LiveState(window_s=20, bucket_s=2)
    for i in range(100):
        live.observe_score(latency_ms=5.0 if i < 90 else 50.0, sla_met=i < 90, now_ms=T0 + 10 * i)
    live.observe_dead_letter("not_json", T0 + 100)
    live.observe_dead_letter("missing_field", T0 + 3_000)
    live.observe_alert("fraud", "medium", alert("x"), T0 + 3_000)
    snap = live.snapshot(T0 + 5_000)
    assert len(snap["series"]) == 10 and snap["window_s"] == 20
    assert [p["t"] for p in snap["series"]][-3:] == [T0, T0 + 2_000, T0 + 4_000]
    win = snap["window"]
    assert (win["scores"], win["sla_misses"], win["dead_letters"], win["alerts"]) == (100, 10, 2, 1)
    assert win["sla_miss_rate"] == pytest.approx(0.1)
    assert win["p50_ms"] == pytest.approx(5.0, rel=0.1)
    assert win["p99_ms"] == pytest.approx(50.0, rel=0.1)
    first = snap["series"][-3]
    assert first["scores"] == 100 and first["per_s"] == 50.0
    assert snap["series"][-2]["dead_letters"] == 1 and snap["series"][-2]["alerts"] == 1
    assert snap["series"][0]["p50_ms"] is None  # an empty slot
    assert snap["dead_letters_by_type"] == {"not_json": 1, "missing_field": 1}
    assert snap["totals"] == {"scores": 100, "sla_misses": 10, "alerts": 1, "dead_letters": 2}
    orjson.dumps(snap)  # what the web server sends


def test_old_buckets_leave_the_window_but_totals_stay() -> None:
    live = LiveState(window_s=10, bucket_s=2)
    live.observe_score(3.0, True, T0)
    live.observe_score(3.0, False, T0 + 60_000)
    snap = live.snapshot(T0 + 61_000)
    assert snap["window"]["scores"] == 1 and snap["window"]["sla_misses"] == 1
    assert snap["totals"]["scores"] == 2
    assert len(live._buckets) <= live.n_buckets


def test_a_clock_going_back_counts_in_the_newest_slot() -> None:
    live = LiveState(window_s=10, bucket_s=2)
    live.observe_score(3.0, True, T0 + 4_000)
    live.observe_score(3.0, True, T0)
    assert len(live._buckets) == 1
    assert live.snapshot(T0 + 4_000)["window"]["scores"] == 2


def test_throughput_uses_complete_slots_only() -> None:
    live = LiveState(window_s=60, bucket_s=2)
    for second in range(12):
        for _ in range(10):
            live.observe_score(1.0, True, T0 + second * 1000)
    # At T0+11.5 s, the slot [10 s, 12 s) is still filling: the five before it had 20 each.
    assert live.snapshot(T0 + 11_500)["throughput_per_s"] == pytest.approx(10.0)


def test_empty_state_snapshot() -> None:
    snap = LiveState().snapshot(T0)
    assert snap["window"]["p95_ms"] is None and snap["window"]["sla_miss_rate"] == 0.0
    assert snap["throughput_per_s"] == 0.0 and snap["last_alert_seq"] == 0


@pytest.mark.parametrize(("kwargs"), [{"max_alerts": 0}, {"bucket_s": 0}, {"window_s": 1, "bucket_s": 2}])
def test_rejects_bad_sizes(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        LiveState(**kwargs)


@given(
    st.lists(st.floats(min_value=0.1, max_value=50_000.0), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.95, 0.99]),
)
def test_histogram_percentile_is_within_ten_percent(latencies: list[float], q: float) -> None:
    live = LiveState()
    for latency in latencies:
        live.observe_score(latency, True, T0)
    estimate = live.snapshot(T0)["window"][f"p{int(q * 100)}_ms"]
    exact = sorted(latencies)[max(1, math.ceil(q * len(latencies))) - 1]
    # The upper edge of the bin holding the exact value: never below it, at most 10% above.
    assert exact <= estimate <= exact * 1.1 * (1 + 1e-9)


def test_percentile_edges() -> None:
    bins = [0] * (len(LATENCY_EDGES_MS) + 1)
    assert percentile(bins, 0.5) is None
    bins[-1] = 3  # beyond the last edge
    assert percentile(bins, 0.99) == LATENCY_EDGES_MS[-1]
    bins = [0] * (len(LATENCY_EDGES_MS) + 1)
    bins[0] = 1  # at or below 0.1 ms
    assert percentile(bins, 0.5) == LATENCY_EDGES_MS[0]


def test_hot_path_is_cheap() -> None:
    """Not a timing assertion: the per-event path allocates no record and parses nothing."""
    live = LiveState()
    rng = random.Random(0)
    for i in range(10_000):
        live.observe_score(rng.uniform(1, 30), True, T0 + i)
    assert live.totals["scores"] == 10_000
    assert sum(sum(b.latency_bins or []) for b in live._buckets) == 10_000
