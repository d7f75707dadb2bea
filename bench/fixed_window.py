"""The fixed-window baseline: Triton/Morpheus-style batching. ``python -m bench.fixed_window``.

The StreamGuard worker unchanged (consumer settings, int8 models, inference thread, publishing,
acknowledgement) except its batching policy: a batch closes when it holds ``max_events`` or when its
oldest event has waited ``window_ms`` (Triton's ``max_queue_delay``), whatever the load and the SLA.
"""

from __future__ import annotations

import asyncio

from pipeline.hotpath.batching import BatchPolicy, InferenceTimeEstimator, MicroBatcher
from pipeline.settings import load_settings

WINDOW_MS = 50.0
MAX_EVENTS = 32


class FixedWindowBatcher(MicroBatcher[object]):
    """Closes a batch at ``max_events`` or ``window_ms`` after its oldest event arrived."""

    def __init__(self, estimator: InferenceTimeEstimator, *, window_ms: float, max_events: int) -> None:
        super().__init__(BatchPolicy(max_batch=max_events, sla_ms=window_ms, margin_ms=0.0), estimator)
        self.window_ms = window_ms

    def flush_at(self) -> float | None:
        if not len(self):
            return None
        oldest = self._pending[0].ingested_ms
        return oldest if len(self) >= self.policy.max_batch else oldest + self.window_ms

    def due(self, now_ms: float) -> bool:
        at = self.flush_at()
        return at is not None and now_ms >= at


def main() -> None:
    from agents.worker import ServiceWorker, build_worker, prepare_topics

    settings = load_settings()
    bootstrap = settings.client_bootstrap
    asyncio.run(prepare_topics(settings, bootstrap))
    worker = build_worker(settings, bootstrap)
    for wiring in worker.wirings:
        lane = wiring.lane
        # Benchmark-only surgery: the lane's batcher is private; the rest of the worker is untouched.
        lane._batcher = FixedWindowBatcher(  # type: ignore[assignment]
            lane._batcher.estimator, window_ms=WINDOW_MS, max_events=MAX_EVENTS
        )
    try:
        ServiceWorker(worker.app, loglevel=settings.log_level.upper(), quiet=True).execute_from_commandline()
    finally:
        worker.shutdown_executors()


if __name__ == "__main__":
    main()
