"""Batcher policy: flush on size, or when waiting longer would break the oldest event's SLA."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.hotpath.batching import (
    ArrivalRate,
    BatchMode,
    BatchPolicy,
    InferenceTimeEstimator,
    MicroBatcher,
)


def make_batcher(
    max_batch: int = 8, sla_ms: float = 20.0, margin_ms: float = 2.0, mode: BatchMode = "deadline"
) -> MicroBatcher[int]:
    estimator = InferenceTimeEstimator(prior_fixed_ms=1.0, prior_per_item_ms=0.5, spread=0.0)
    return MicroBatcher(BatchPolicy(max_batch, sla_ms, margin_ms, mode), estimator)


def test_empty_batcher_is_never_due() -> None:
    batcher = make_batcher()
    assert batcher.flush_at() is None
    assert not batcher.due(1e15)
    assert batcher.take() == []


def test_full_batch_is_due_immediately() -> None:
    batcher = make_batcher(max_batch=3)
    for i in range(3):
        batcher.add(i, 1000.0)
    assert batcher.due(1000.0)
    assert [item for item, _ in batcher.take()] == [0, 1, 2]


def test_deadline_leaves_room_for_predicted_inference() -> None:
    batcher = make_batcher(sla_ms=20.0, margin_ms=2.0)
    batcher.add(1, 1000.0)
    # predicted inference for one event: 1.0 + 0.5 = 1.5 ms -> flush by 1000 + 20 - 2 - 1.5
    assert batcher.flush_at() == pytest.approx(1016.5)
    assert not batcher.due(1016.4)
    assert batcher.due(1016.5)


def test_deadline_moves_earlier_as_the_batch_grows() -> None:
    batcher = make_batcher(max_batch=64)
    batcher.add(0, 1000.0)
    first = batcher.flush_at()
    for i in range(1, 10):
        batcher.add(i, 1000.0 + i)
    later = batcher.flush_at()
    assert first is not None and later is not None
    assert later < first  # more items -> more predicted inference -> less time to wait


def test_slower_observed_inference_flushes_earlier() -> None:
    fast, slow = make_batcher(), make_batcher()
    fast.estimator.observe(1, 1.0)
    slow.estimator.observe(1, 9.0)
    for batcher in (fast, slow):
        batcher.add(0, 1000.0)
    assert slow.flush_at() < fast.flush_at()  # type: ignore[operator]


def test_take_is_oldest_first_and_bounded_by_max_batch() -> None:
    batcher = make_batcher(max_batch=4)
    for i in range(10):
        batcher.add(i, 1000.0 + i)
    assert [i for i, _ in batcher.take()] == [0, 1, 2, 3]
    assert [t for _, t in batcher.take()] == [1004.0, 1005.0, 1006.0, 1007.0]
    assert len(batcher) == 2


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        BatchPolicy(max_batch=0, sla_ms=10)
    with pytest.raises(ValueError):
        BatchPolicy(max_batch=1, sla_ms=0)


# -- adaptive mode: wait only when the model cannot keep up -------------------------------------
def test_adaptive_runs_a_lone_event_at_once_when_traffic_is_light() -> None:
    batcher = make_batcher(mode="adaptive")
    batcher.add(1, 1000.0)
    assert batcher.due(1000.0)  # 1 event per 100 ms x 1.5 ms per event: the model keeps up


def test_adaptive_holds_a_small_batch_while_arrivals_outpace_the_model() -> None:
    batcher = make_batcher(max_batch=64, mode="adaptive")
    batcher.estimator.observe(1, 4.0)
    batcher.estimator.observe(32, 32.0)
    for i in range(50):  # history: one event every 2 ms = 0.5 per ms, while B1 costs 4 ms
        batcher.arrivals.add(900.0 + 2 * i)
    batcher.add(1, 1000.0)
    assert not batcher.keeps_up(1000.0)
    assert not batcher.due(1000.0)
    deadline = batcher.flush_at()
    assert deadline is not None and batcher.due(deadline)  # but never past the SLA deadline


def test_adaptive_batches_grow_just_enough_to_keep_up_under_heavy_traffic() -> None:
    batcher = make_batcher(max_batch=64, mode="adaptive")
    batcher.estimator.observe(1, 4.0)
    batcher.estimator.observe(32, 32.0)  # 4 ms per event alone, ~1 ms per event in big batches
    sizes = []
    for i in range(400):
        now = 1000.0 + 2.0 * i  # 0.5 events per ms: one at a time cannot keep up
        batcher.add(i, now)
        if batcher.due(now):
            sizes.append(len(batcher.take()))
    steady = sizes[len(sizes) // 2 :]
    assert min(steady) > 1
    assert max(steady) < 64
    assert all(0.5 * batcher.estimator.predict(n) / n < 1.0 for n in steady)


def test_adaptive_judges_keeping_up_on_typical_cost_not_the_jitter_bound() -> None:
    estimator = InferenceTimeEstimator(spread=2.0)
    for ms in (1.0, 5.0, 1.0, 5.0, 1.0, 5.0):  # a busy machine: mean ~3 ms, large deviation
        estimator.observe(1, ms)
    batcher = MicroBatcher(BatchPolicy(32, 20.0, 2.0, "adaptive"), estimator)
    for i in range(50):  # 0.25 events per ms: typical cost 3 ms x 0.25 < 1, the bound's > 1
        batcher.arrivals.add(800.0 + 4 * i)
    batcher.add(1, 1000.0)
    assert estimator.predict(1) * 0.25 > 1.0 > estimator.predict(1, typical=True) * 0.25
    assert batcher.due(1000.0)


def test_arrival_rate_decays_after_a_burst() -> None:
    rate = ArrivalRate(window_ms=100.0)
    for i in range(100):
        rate.add(1000.0 + i * 0.01)
    assert rate.per_ms(1001.0) > 0.5
    assert rate.per_ms(2000.0) < 0.001


# -- the estimator -------------------------------------------------------------------------------
def test_estimator_uses_prior_until_it_has_observations() -> None:
    est = InferenceTimeEstimator(prior_fixed_ms=2.0, prior_per_item_ms=1.0, spread=0.0)
    assert est.predict(4) == pytest.approx(6.0)


def test_estimator_interpolates_between_observed_sizes() -> None:
    est = InferenceTimeEstimator(spread=0.0)
    est.observe(1, 2.0)
    est.observe(17, 18.0)
    assert est.predict(9) == pytest.approx(10.0)
    assert est.predict(33) == pytest.approx(34.0)


def test_estimator_tracks_a_slowdown() -> None:
    est = InferenceTimeEstimator(alpha=0.5, spread=0.0)
    est.observe(8, 5.0)
    for _ in range(10):
        est.observe(8, 20.0)
    assert est.predict(8) == pytest.approx(20.0, rel=0.01)


def test_jitter_makes_predictions_more_conservative() -> None:
    steady, jittery = InferenceTimeEstimator(), InferenceTimeEstimator()
    for ms in (5.0, 5.0, 5.0, 5.0):
        steady.observe(4, ms)
    for ms in (2.0, 8.0, 2.0, 8.0):
        jittery.observe(4, ms)
    assert jittery.predict(4) > steady.predict(4)
    # The typical cost leaves the jitter out.
    assert jittery.predict(4, typical=True) < jittery.predict(4)
    assert jittery.predict(5, typical=True) < jittery.predict(5)


# -- properties ----------------------------------------------------------------------------------
arrivals = st.lists(st.floats(min_value=0.0, max_value=5.0, allow_nan=False), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(
    gaps=arrivals,
    max_batch=st.integers(min_value=1, max_value=64),
    sla_ms=st.floats(min_value=1.0, max_value=200.0),
    observed=st.lists(st.tuples(st.integers(1, 64), st.floats(min_value=0.0, max_value=100.0)), max_size=10),
)
def test_batches_preserve_order_respect_size_and_close_by_the_deadline(
    gaps: list[float], max_batch: int, sla_ms: float, observed: list[tuple[int, float]]
) -> None:
    """Simulate a stream checked at every arrival and every deadline: nothing is lost or
    reordered, no batch exceeds max_batch, and no batch starts after its flush deadline."""
    batcher = make_batcher(max_batch=max_batch, sla_ms=sla_ms)
    batcher.estimator.observe_many(observed)
    now, out, late = 0.0, [], []

    def flush_due(at: float) -> None:
        while batcher.due(at):
            deadline = batcher.flush_at()
            size = min(len(batcher), max_batch)
            full = len(batcher) >= max_batch
            batch = batcher.take()
            assert 1 <= len(batch) <= max_batch
            assert len(batch) == size
            # A batch is taken no later than its deadline (or it was full, so due at once); an
            # event whose budget was already spent on arrival is flushed the moment it arrives.
            newest = max(ingested for _, ingested in batch)
            if not full and deadline is not None and at > max(deadline, newest) + 1e-9:
                late.append((at, deadline))
            out.extend(item for item, _ in batch)

    for i, gap in enumerate(gaps):
        # Before the next arrival, the loop wakes exactly at the flush deadline, if earlier.
        next_arrival = now + gap
        deadline = batcher.flush_at()
        while deadline is not None and deadline <= next_arrival:
            flush_due(max(deadline, now))
            deadline = batcher.flush_at()
        now = next_arrival
        batcher.add(i, now)
        flush_due(now)
    while len(batcher):
        deadline = batcher.flush_at()
        assert deadline is not None
        now = max(now, deadline)
        flush_due(now)

    assert out == list(range(len(gaps)))
    assert late == []


@given(
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=30),
    ms=st.floats(min_value=0.1, max_value=50.0),
)
def test_estimator_predictions_are_finite_and_non_negative(sizes: list[int], ms: float) -> None:
    est = InferenceTimeEstimator()
    for size in sizes:
        est.observe(size, ms * size)
    for size in range(1, 65):
        prediction = est.predict(size)
        assert 0.0 <= prediction < float("inf")
