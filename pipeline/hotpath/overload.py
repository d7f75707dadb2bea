"""What a lane does when events arrive faster than its model can score them. Pure: no asyncio.

``queue`` (the default) scores every event with the model and accepts SLA misses while a backlog
lasts. ``shed`` scores a batch with the kind's cheap fallback (``pipeline.hotpath.fallback``), marked
``degraded``, whenever the lane is behind: the batch's oldest event can no longer meet its SLA
through the model, or the intake holds more than half of its bound. No event is ever dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OverloadPolicy = Literal["queue", "shed"]


@dataclass(frozen=True, slots=True)
class ShedPolicy:
    """When to score a batch with the fallback instead of the model."""

    sla_ms: float
    high_water: int

    @classmethod
    def for_queue(cls, sla_ms: float, queue_size: int) -> ShedPolicy:
        return cls(sla_ms=sla_ms, high_water=max(1, queue_size // 2))

    def behind(self, *, oldest_ingested_ms: float, now_ms: float, predicted_ms: float, queued: int) -> bool:
        """Is the lane behind for a batch whose oldest event was ingested at ``oldest_ingested_ms``,
        that the model would take ``predicted_ms`` to run, with ``queued`` events in the intake
        (this batch included)?"""
        if queued > self.high_water:
            return True
        return now_ms + predicted_ms > oldest_ingested_ms + self.sla_ms
