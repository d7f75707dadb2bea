"""SLA-aware micro-batching policy: pure, clock-injected, no asyncio and no Faust.

A batch closes when it is full, or when waiting any longer would make the oldest event in it miss
its SLA: ``oldest.ingested + sla - margin - predicted_inference(len(batch))``. The inference time is
a running estimate per batch size, learnt from what the model really took, so the batcher waits
longer when the model is fast and flushes earlier when it slows down (bigger batches, busy CPU).

Waiting only pays when the model cannot keep up one small batch at a time. In ``adaptive`` mode
(the default) an idle model therefore runs what is pending at once while the recent arrival rate
times the predicted per-event cost at the current batch size stays below 1; above that, the batch
is held (never past the SLA deadline) so it grows to a size whose per-event cost keeps up. In
``deadline`` mode the batch is always held until the deadline (maximum batching within the SLA).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from math import exp
from typing import Generic, Literal, TypeVar

T = TypeVar("T")


class InferenceTimeEstimator:
    """Predicts inference milliseconds for a batch size from observed runs.

    Each observed size keeps an exponentially weighted mean and mean absolute deviation; the
    prediction is ``mean + spread * deviation`` so jitter makes the batcher flush earlier.
    Unobserved sizes are read off a straight line through the observed ones (cost is close to
    ``fixed + per_item * n`` for transformer encoders at short lengths), or off the prior.
    """

    def __init__(
        self,
        *,
        prior_fixed_ms: float = 2.0,
        prior_per_item_ms: float = 1.0,
        alpha: float = 0.2,
        spread: float = 2.0,
    ) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self._prior = (prior_fixed_ms, prior_per_item_ms)
        self._alpha = alpha
        self._spread = spread
        self._mean: dict[int, float] = {}
        self._dev: dict[int, float] = {}
        self._line: tuple[float, float] | None = None

    def observe(self, size: int, ms: float) -> None:
        if size < 1 or ms < 0:
            raise ValueError("size must be >= 1 and ms >= 0")
        mean = self._mean.get(size)
        if mean is None:
            self._mean[size] = ms
            self._dev[size] = ms * 0.1
        else:
            a = self._alpha
            self._dev[size] = (1 - a) * self._dev[size] + a * abs(ms - mean)
            self._mean[size] = (1 - a) * mean + a * ms
        self._line = self._fit_line()

    def observe_many(self, samples: Iterable[tuple[int, float]]) -> None:
        for size, ms in samples:
            self.observe(size, ms)

    def predict(self, size: int, *, typical: bool = False) -> float:
        """Predicted milliseconds to run a batch of ``size`` (>= 1): a pessimistic bound (mean plus
        ``spread`` deviations) for deadlines, or with ``typical`` the mean alone, for throughput."""
        size = max(size, 1)
        spread = 0.0 if typical else self._spread
        if size in self._mean:
            return self._mean[size] + spread * self._dev[size]
        fixed, per_item = self._line or self._prior
        dev = max(self._dev.values(), default=0.0)
        return max(fixed + per_item * size, 0.0) + spread * dev

    def _fit_line(self) -> tuple[float, float] | None:
        sizes = list(self._mean)
        if len(sizes) == 1:
            # One size seen: keep the prior's shape, scaled to what was measured.
            (only,) = sizes
            fixed, per_item = self._prior
            scale = self._mean[only] / (fixed + per_item * only)
            return fixed * scale, per_item * scale
        n = len(sizes)
        mean_x = sum(sizes) / n
        mean_y = sum(self._mean.values()) / n
        var_x = sum((x - mean_x) ** 2 for x in sizes)
        cov = sum((x - mean_x) * (self._mean[x] - mean_y) for x in sizes)
        slope = max(cov / var_x, 0.0)
        return mean_y - slope * mean_x, slope


class ArrivalRate:
    """Events per millisecond over roughly the last ``window_ms``, decaying while nothing arrives.

    An exponentially decaying count: each arrival adds 1, the level decays with time constant
    ``window_ms``, and ``level / window_ms`` is the rate. A burst followed by silence reads as a
    falling rate, unlike an average of inter-arrival gaps.
    """

    def __init__(self, window_ms: float = 100.0) -> None:
        if window_ms <= 0:
            raise ValueError("window_ms must be > 0")
        self._window = window_ms
        self._level = 0.0
        self._at = 0.0

    def add(self, at_ms: float) -> None:
        self._level = self._decayed(at_ms) + 1.0
        self._at = max(self._at, at_ms)

    def per_ms(self, now_ms: float) -> float:
        return self._decayed(now_ms) / self._window

    def _decayed(self, now_ms: float) -> float:
        if self._level == 0.0:
            return 0.0
        return self._level * exp(-max(now_ms - self._at, 0.0) / self._window)


BatchMode = Literal["adaptive", "deadline"]


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    max_batch: int
    sla_ms: float
    margin_ms: float = 2.0
    mode: BatchMode = "adaptive"

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if self.sla_ms <= 0:
            raise ValueError("sla_ms must be > 0")


@dataclass(slots=True)
class _Pending(Generic[T]):
    item: T
    ingested_ms: float


class MicroBatcher(Generic[T]):
    """Collects items and tells when the current batch must close.

    Times are epoch milliseconds supplied by the caller, so the policy is deterministic in tests.
    """

    def __init__(self, policy: BatchPolicy, estimator: InferenceTimeEstimator) -> None:
        self.policy = policy
        self.estimator = estimator
        self._pending: deque[_Pending[T]] = deque()
        self.arrivals = ArrivalRate()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, item: T, ingested_ms: float) -> None:
        self._pending.append(_Pending(item, ingested_ms))
        self.arrivals.add(ingested_ms)

    def flush_at(self) -> float | None:
        """Latest epoch ms at which the next batch can start inference and still meet the SLA.

        ``None`` when nothing is pending. When the batch is full this is the oldest item's time:
        it is due now.
        """
        if not self._pending:
            return None
        oldest = self._pending[0].ingested_ms
        size = min(len(self._pending), self.policy.max_batch)
        if size >= self.policy.max_batch:
            return oldest
        budget = self.policy.sla_ms - self.policy.margin_ms - self.estimator.predict(size)
        return oldest + budget

    def due(self, now_ms: float) -> bool:
        """Should an idle model start on the pending batch now?"""
        at = self.flush_at()
        if at is None:
            return False
        if len(self._pending) >= self.policy.max_batch or now_ms >= at:
            return True
        return self.policy.mode == "adaptive" and self.keeps_up(now_ms)

    def keeps_up(self, now_ms: float) -> bool:
        """Would running the current batch now keep pace with arrivals (no need to wait)?"""
        size = min(len(self._pending), self.policy.max_batch)
        per_event_ms = self.estimator.predict(size, typical=True) / size
        return self.arrivals.per_ms(now_ms) * per_event_ms < 1.0

    def take(self) -> list[tuple[T, float]]:
        """Remove and return the next batch (oldest first) as (item, ingested_ms) pairs."""
        count = min(len(self._pending), self.policy.max_batch)
        popleft = self._pending.popleft
        batch = []
        for _ in range(count):
            pending = popleft()
            batch.append((pending.item, pending.ingested_ms))
        return batch
