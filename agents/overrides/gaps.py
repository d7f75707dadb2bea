"""Finds input records that were fetched but never reached an agent, and reads them again.

The commit never passes an unacknowledged offset (``pipeline.kafka.commits``), so a record lost between
the fetch and the agent would hold its partition's commit back for ever instead of being lost.
Seen in 4 of 34 runs of a restarted worker reading a 600-record backlog: one record in the middle
of a fetch never reached the stream, and Faust committed past it. Which path inside Faust dropped it was
not pinned down (tracing made it vanish); this guard makes it harmless whatever the path.

Every ``CHECK_INTERVAL_S`` it looks, for each input partition, at the offset the next commit must
start from. If later offsets are acknowledged and that one is neither acknowledged nor on its
way through an agent for two checks in a row, the broker is asked for the first record at or
after it (with a consumer of our own, outside the group):

* the record is there: it was lost on the way; the partition is read again from it (the records
  after it are scored twice, which at-least-once allows);
* the first record comes later: the offsets between hold no record (a transaction marker, a
  compacted record, a log whose start moved on); the commit may pass them.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import faust
from aiokafka import TopicPartition
from mode import Service

from agents.overrides.offsets import READ_TIMEOUT_S, start_reader
from pipeline.kafka.commits import stalled_at
from pipeline.observability.metrics import Metrics

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0


class GapGuard(Service):
    """Reads again the input records that never reached an agent (see the module doc)."""

    def __init__(
        self,
        app: faust.App,
        bootstrap: str,
        *,
        security: Mapping[str, Any] | None = None,
        metrics: Metrics | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.bootstrap = bootstrap
        self.security = dict(security or {})
        self.metrics = metrics or Metrics()
        self._suspects: dict[Any, int] = {}  # partition -> stalled offset seen at the last check

    @Service.timer(CHECK_INTERVAL_S)
    async def _check(self) -> None:
        if self.app.rebalancing or self.app.should_stop:
            return
        try:
            await self.check()
        except Exception as exc:  # the consumer may be (re)starting; the next check retries
            log.debug("gap check skipped: %r", exc)

    async def check(self) -> None:
        consumer: Any = self.app.consumer  # agents.overrides.transport's: it has commit_start and floors
        on_the_way: dict[Any, set[int]] = defaultdict(set)
        for message in list(consumer._unacked_messages):
            on_the_way[message.tp].add(message.offset)
        assignment = consumer.assignment()
        stalled = {}
        for tp, index in list(consumer._acked_index.items()):
            if tp not in assignment:
                continue
            offset = stalled_at(consumer.commit_start(tp), index, on_the_way.get(tp, ()))
            if offset is not None and self._suspects.get(tp) == offset:
                stalled[tp] = offset
            elif offset is not None:
                self._suspects[tp] = offset
            else:
                self._suspects.pop(tp, None)
        if stalled:
            firsts = await self._first_records(stalled)
            for tp, offset in stalled.items():
                await self._settle(consumer, tp, offset, firsts.get(tp))

    async def _settle(self, consumer: Any, tp: Any, offset: int, first: int | None) -> None:
        if first is None:  # no answer: ask again at the next check
            return
        self._suspects.pop(tp, None)
        if first == offset:
            log.warning(
                "partition %s-%d: the record at offset %d was fetched but never reached the "
                "agent; reading the partition again from it",
                tp.topic,
                tp.partition,
                offset,
            )
            await consumer.seek(tp, offset)
            self.metrics.input_rereads.labels(tp.topic).inc()
        elif first > offset:
            log.info(
                "partition %s-%d: offsets %d-%d hold no records; committing past them",
                tp.topic,
                tp.partition,
                offset,
                first - 1,
            )
            consumer.floors[tp] = max(consumer.floors.get(tp, 0), first)
            self.metrics.input_offsets_without_records.labels(tp.topic).inc(first - offset)

    async def _first_records(self, wanted: Mapping[Any, int]) -> dict[Any, int]:
        """Offset of the first record at or after each wanted offset, for those the broker
        answered within ``READ_TIMEOUT_S``."""
        reader = await start_reader(self.bootstrap, self.security, auto_offset_reset="earliest")
        found: dict[Any, int] = {}
        try:
            own = {TopicPartition(tp.topic, tp.partition): tp for tp in wanted}
            reader.assign(list(own))
            for part, tp in own.items():
                reader.seek(part, wanted[tp])
            deadline = time.monotonic() + READ_TIMEOUT_S
            while len(found) < len(own) and time.monotonic() < deadline:
                batch = await reader.getmany(timeout_ms=100)
                for part, records in batch.items():
                    if records and own[part] not in found:
                        found[own[part]] = records[0].offset
        finally:
            await reader.stop()
        return found
