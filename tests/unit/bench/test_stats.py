from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.stats import LatencySummary, percentile, saturated, summarize_run


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 99.9) == 100.0  # the tail sample, not an interpolation below it
    assert percentile(values, 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0


def test_percentile_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=300))
def test_summary_is_ordered_and_observed(values: list[float]) -> None:
    summary = LatencySummary.of(values)
    assert summary.p50 <= summary.p95 <= summary.p99 <= summary.p999 <= summary.max
    assert {summary.p50, summary.p99, summary.p999} <= set(values)
    assert summary.count == len(values)


def test_run_summary_counts_unscored_events_as_misses() -> None:
    run = summarize_run(
        rate=100,
        latencies_ms=[5.0] * 98,
        censored_ms=[3000.0, 3100.0],
        first_receive_s=10.0,
        last_receive_s=10.97,
        sla_ms=20,
    )
    assert (run.sent, run.received, run.missing) == (100, 98, 2)
    assert run.sla_miss_pct == pytest.approx(2.0)
    assert run.latency.p99 == 3000.0  # lost events push the tail up, never down
    assert run.throughput == pytest.approx(97 / 0.97)
    assert saturated(run, p99_limit_ms=10_000)  # events were lost


def test_constant_latency_does_not_lower_throughput() -> None:
    # 100 events sent at 100/s, each scored 700 ms later: the pace of receipts is still 100/s.
    run = summarize_run(
        rate=100,
        latencies_ms=[700.0] * 100,
        censored_ms=[],
        first_receive_s=0.7,
        last_receive_s=0.7 + 99 / 100,
        sla_ms=20,
    )
    assert run.throughput == pytest.approx(100.0)
    assert not saturated(run, p99_limit_ms=5_000)
    assert saturated(run, p99_limit_ms=500)


def test_falling_behind_is_saturation() -> None:
    run = summarize_run(
        rate=400, latencies_ms=[50.0] * 400, censored_ms=[], first_receive_s=0, last_receive_s=2.0, sla_ms=20
    )
    assert run.throughput == pytest.approx(399 / 2.0)
    assert saturated(run, p99_limit_ms=5_000)
