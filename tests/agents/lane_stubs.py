"""Stand-ins for the lane service's tests: a wiring whose model always fails, and a service-tree root.

Shared by ``test_lane_runner.py`` and the child processes it starts (workers whose lane dies).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mode import Service

from pipeline.hotpath.batching import BatchPolicy, InferenceTimeEstimator, MicroBatcher
from pipeline.hotpath.lane import Batch, ScoringLane


class StubWiring:
    """What LaneRunner uses of a ScoringWiring: its lane and ``drain``; the model always raises
    ``error`` (by default a RuntimeError, as an onnxruntime failure would be)."""

    def __init__(self, executor: ThreadPoolExecutor, error: BaseException | None = None) -> None:
        self.error = error or RuntimeError("onnxruntime fell over")
        self.lane: ScoringLane[int, list[int]] = ScoringLane(
            "broken",
            MicroBatcher(BatchPolicy(4, 20.0), InferenceTimeEstimator()),
            infer=self._infer,
            publish=self._publish,
            on_done=self._on_done,
            executor=executor,
            queue_size=16,
        )

    def _infer(self, items: Sequence[int]) -> list[int]:
        raise self.error

    async def _publish(self, batch: Batch[int], result: list[int], scored: float, degraded: bool) -> Any:
        raise AssertionError("never reached")

    async def _on_done(self, batch: Batch[int]) -> None:
        raise AssertionError("never reached")

    async def drain(self) -> None:
        await self.lane.wait_confirmed()


class Root(Service):
    """Stands in for the Faust worker at the root of the service tree."""
