"""Rewinds input partitions whose log started again under the worker (a broker that lost its data).

After a restart of a broker that keeps its log in memory (the embedded Tansu), every partition is
empty again and its offsets restart at 0, but the worker still stands at its old positions, and
it commits those old offsets to the new broker while it rejoins the group (Faust drains and
commits its in-flight messages on every revocation). Apache Kafka answers a fetch past the end
with OFFSET_OUT_OF_RANGE, which ``auto_offset_reset="earliest"`` turns into a rewind; Tansu answers
with an empty fetch, so the worker would wait, scoring nothing, until the new log grew past the
old position, and then skip everything before it. New traffic often grows it past the old
position before the worker has rejoined, so "position beyond the end" alone cannot be relied on.

``LogRestartGuard`` therefore checks the log itself: it remembers the last record the worker read
from each partition (offset, timestamp, key, value), and reads that offset again from the broker

* during every rebalance (a restarted broker does not know the group's member: the worker always
  rejoins), as soon as it starts, while Faust still waits for the in-flight messages, and again
  (for partitions the broker gave no answer for) once Faust has drained and committed them,
  before the partitions are assigned again;
* when a partition's position is beyond its high watermark (checked every ``_CHECK_INTERVAL_S``
  outside rebalances), which on a healthy log never holds for long (a new Kafka leader's high
  watermark may lag for a moment: the record check tells the two apart).

If the record is gone (the log now ends before it) or another record stands at its offset, the
log was recreated: the partition is consumed again from offset 0, offset 0 is committed over the
stale offset, Faust's acknowledgement bookkeeping for it is reset, and the messages read from the
old log that are still in the lanes are marked acknowledged, so that their acknowledgements,
which arrive later, can never commit an offset of the new log.

A rewound partition is then watched until Faust delivers from the new log. Observed (in 2 of 3
broker-restart runs once scoring got faster): right after the group was assigned again, the
consumer's position moved to the end of the new log while Faust delivered none of those records
to the streams, and stayed so. Faust drops records fetched across a rebalance without seeking
back in some paths (a fetch that started before the assignment); which one fired here was not
pinned down. A watched partition whose position stays ahead of what Faust delivered for two
checks is sought back to its committed offset, which fetches those records again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Mapping
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError
from aiokafka.structs import OffsetAndMetadata
from faust.sensors import Sensor
from mode import Service

from pipeline.observability.metrics import Metrics

log = logging.getLogger(__name__)

_CHECK_INTERVAL_S = 0.5
# A partition that stays past its end is checked against the broker at most this often.
_RECHECK_AFTER_S = 5.0
# How long one check may wait for the broker's answer; then nothing is decided.
READ_TIMEOUT_S = 2.0

# (timestamp ms, key, value) of a record: what identifies it within its partition.
Fingerprint = tuple[int | None, bytes | None, bytes | None]


class LogState(enum.Enum):
    SAME = "same"  # the record read before is still there: the log is intact
    REPLACED = "replaced"  # another record stands at its offset: the log was recreated
    SHORTER = "shorter"  # the log now ends before it: recreated (or truncated)
    UNKNOWN = "unknown"  # no answer (timeout, retention deleted it): nothing to do

    @property
    def recreated(self) -> bool:
        return self in (LogState.REPLACED, LogState.SHORTER)


def beyond_end(position: int | None, highwater: int | None) -> bool:
    """True when the next offset to read lies past the partition's end: its log was recreated."""
    return position is not None and highwater is not None and position > highwater


def message_fingerprint(message: Any) -> Fingerprint:
    """Fingerprint of a Faust message (its timestamp is in seconds)."""
    timestamp = message.timestamp
    return (None if timestamp is None else round(timestamp * 1000), message.key, message.value)


def record_fingerprint(record: Any) -> Fingerprint:
    """Fingerprint of an aiokafka record (its timestamp is in milliseconds)."""
    return (record.timestamp, record.key, record.value)


def judge(expected: Fingerprint, offset: int, found: Any | None, highwater: int | None) -> LogState:
    """What the broker's answer for ``offset`` says about the log.

    ``found``: the first record the broker returned from ``offset`` (None if none); ``highwater``:
    the partition's end in that answer.
    """
    if found is not None:
        if found.offset != offset:  # compacted away: nothing can be said
            return LogState.UNKNOWN
        return LogState.SAME if record_fingerprint(found) == expected else LogState.REPLACED
    if highwater is not None and highwater <= offset:
        return LogState.SHORTER
    return LogState.UNKNOWN


class _LastRead(Sensor):
    """Keeps the last message each partition delivered to a stream (called for every message)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.messages: dict[Any, Any] = {}

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.messages[tp] = message


class LogRestartGuard(Service):
    """Detects recreated input logs and consumes them again from offset 0 (see the module doc)."""

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
        self.last_read = _LastRead()
        app.sensors.add(self.last_read)
        app.on_partitions_revoked.connect(self._on_revoked)
        self._checked_at: dict[Any, float] = {}  # partition -> when it was last checked past its end
        self._rebalance = -1  # app.rebalancing_count of the rebalance checked last
        self._settled: set[Any] = set()  # partitions it answered for
        # Rewound partitions not yet delivering from the new log -> (read offset, position) seen last.
        self._watched: dict[Any, tuple[int | None, int | None] | None] = {}

    # -- triggers ----------------------------------------------------------------------------
    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Faust has drained and committed the in-flight messages; the group rejoins next."""
        if self.app.should_stop:
            return
        try:
            # Those the check during the rebalance could not settle (see ``check``).
            await self._check_in_rebalance(set(args[0]))
        except Exception as exc:  # never let a check break the rebalance
            log.warning("checking the input logs after a revocation failed: %r", exc)

    @Service.timer(_CHECK_INTERVAL_S)
    async def _check(self) -> None:
        try:
            await self.check()
        except Exception as exc:  # the consumer may be (re)starting; the next check retries
            log.debug("offset check skipped: %r", exc)

    async def check(self) -> None:
        """During a rebalance: check every partition read from; otherwise: check the partitions
        whose position is past their end."""
        if self.app.rebalancing:
            # Early, while Faust still waits for the in-flight messages (``wait_empty``): a
            # rewind marks those of a recreated log acknowledged, so the group rejoins at once
            # instead of after the lanes have worked through them all.
            await self._check_in_rebalance(set(self.last_read.messages))
            return
        consumer: Any = self.app.consumer
        assignment = consumer.assignment()
        for tp in set(self.last_read.messages) - assignment:  # another worker's partition now
            self.last_read.messages.pop(tp, None)
        if self._watched and consumer.flow_active:
            await self._watch_rewound(consumer, assignment)
        now = time.monotonic()
        suspects = set()
        for tp in assignment:
            if tp not in self.last_read.messages:
                continue
            highwater = consumer.highwater(tp)
            if highwater is None or not beyond_end(await consumer.position(tp), highwater):
                continue
            if now - self._checked_at.get(tp, -_RECHECK_AFTER_S) >= _RECHECK_AFTER_S:
                self._checked_at[tp] = now
                suspects.add(tp)
        if suspects:
            await self.check_logs(suspects)

    async def _watch_rewound(self, consumer: Any, assignment: set[Any]) -> None:
        """Seek a rewound partition back to its committed offset when records were fetched past
        what Faust delivered and nothing moved since the previous check; stop watching it once
        Faust delivers from the new log."""
        for tp in list(self._watched):
            if tp not in assignment:  # between revocation and assignment: look again later
                continue
            read, position = consumer._read_offset.get(tp), await consumer.position(tp)
            if read is not None and read > 0:  # delivering from the new log
                self._watched.pop(tp)
            elif (
                position is not None and position > (read or 0) + 1 and self._watched[tp] == (read, position)
            ):
                committed = consumer._committed_offset.get(tp) or 0
                log.warning(
                    "partition %s-%d: records up to offset %d were fetched but never delivered after "
                    "the log restarted; reading again from offset %d",
                    tp.topic,
                    tp.partition,
                    position - 1,
                    committed,
                )
                await consumer.seek(tp, committed)
                self._watched[tp] = None
                self.metrics.input_log_reseeks.labels(tp.topic).inc()
            else:
                self._watched[tp] = (read, position)

    # -- the check ---------------------------------------------------------------------------
    async def _check_in_rebalance(self, tps: set[Any]) -> None:
        """Check each partition once per rebalance (again while the broker gives no answer)."""
        count = self.app.rebalancing_count
        if self._rebalance != count:
            self._rebalance, self._settled = count, set()
        states = await self.check_logs(tps - self._settled)
        self._settled |= {tp for tp, state in states.items() if state is not LogState.UNKNOWN}

    async def check_logs(self, tps: set[Any]) -> dict[Any, LogState]:
        """Read the last record read from each of ``tps`` again; rewind the recreated logs."""
        expected = {
            tp: (message.offset, message_fingerprint(message))
            for tp, message in list(self.last_read.messages.items())
            if tp in tps
        }
        if not expected:
            return {}
        states = await self._read_back(expected)
        for tp, state in states.items():
            if state.recreated:
                await self._rewind(tp, expected[tp][0], state)
        return states

    async def _read_back(self, expected: Mapping[Any, tuple[int, Fingerprint]]) -> dict[Any, LogState]:
        """Ask the broker (with a consumer of our own, outside the group) for each record again."""
        states = dict.fromkeys(expected, LogState.UNKNOWN)
        consumer = await start_reader(self.bootstrap, self.security, auto_offset_reset="none")
        try:
            wanted = {TopicPartition(tp.topic, tp.partition): tp for tp in expected}
            consumer.assign(list(wanted))
            for own, tp in wanted.items():
                consumer.seek(own, expected[tp][0])
            deadline = time.monotonic() + READ_TIMEOUT_S
            pending = set(wanted)
            while pending and time.monotonic() < deadline:
                try:
                    batch = await consumer.getmany(*pending, timeout_ms=100, max_records=len(pending))
                except OffsetOutOfRangeError as exc:  # Kafka: before the log start, or past its end
                    for own in set(exc.args[0]) & pending:
                        pending.discard(own)
                        offset = expected[wanted[own]][0]
                        start = (await consumer.beginning_offsets([own])).get(own)
                        if start is not None and offset >= start:
                            states[wanted[own]] = LogState.SHORTER
                    continue
                for own in list(pending):
                    records = batch.get(own) or []
                    tp = wanted[own]
                    offset, fingerprint = expected[tp]
                    state = judge(
                        fingerprint, offset, records[0] if records else None, consumer.highwater(own)
                    )
                    if records or state is not LogState.UNKNOWN:
                        states[tp] = state
                        pending.discard(own)
        finally:
            await consumer.stop()
        return states

    # -- the rewind --------------------------------------------------------------------------
    async def _rewind(self, tp: Any, last_read: int, state: LogState) -> None:
        consumer: Any = self.app.consumer
        log.warning(
            "partition %s-%d: the record read at offset %d is %s; the broker lost its log (a "
            "restart of a memory broker?): consuming it again from offset 0",
            tp.topic,
            tp.partition,
            last_read,
            "gone" if state is LogState.SHORTER else "replaced by another",
        )
        # Messages of the old log still in the lanes: acknowledging them later must not count
        # for the new log (same offsets, other records). Their outputs are still published.
        for message in list(consumer._unacked_messages):
            if message.tp == tp:
                message.acked = True
                consumer._unacked_messages.discard(message)
        # Faust ignores acknowledgements below the committed offset it remembers, and would
        # never commit the new, lower offsets: forget that partition's bookkeeping.
        _forget(consumer, tp)
        self.last_read.messages.pop(tp, None)
        # A commit under way (Faust flushes the producer between choosing its offsets and
        # committing them) would commit the stale offset after our 0, and remember it: wait for
        # it, then forget again. Commits started from now on find nothing to commit for ``tp``.
        if await consumer.maybe_wait_for_commit_to_finish():
            log.info("partition %s-%d: waited for a commit under way", tp.topic, tp.partition)
        _forget(consumer, tp)
        # Offset 0, not "earliest": Tansu's ListOffsets answers are unreliable (BROKER.md), and a
        # Kafka log whose start moved on answers OFFSET_OUT_OF_RANGE, which resets to the earliest.
        try:
            await consumer.seek(tp, 0)
        except Exception as exc:  # revoked meanwhile: the assignment seeks to the committed 0
            log.debug("partition %s-%d: seek to 0 failed: %r", tp.topic, tp.partition, exc)
        # Over the stale offset committed while rejoining: the assignment that follows a
        # revocation seeks to the committed offset, and so does a worker that restarts.
        try:
            thread = consumer._thread
            aiokafka_tp = TopicPartition(tp.topic, tp.partition)
            await thread.call_thread(
                thread._ensure_consumer().commit, {aiokafka_tp: OffsetAndMetadata(0, "")}
            )
        except Exception as exc:
            log.warning("partition %s-%d: committing offset 0 failed: %r", tp.topic, tp.partition, exc)
        self._watched[tp] = None
        self.metrics.input_log_rewinds.labels(tp.topic).inc()


async def start_reader(
    bootstrap: str, security: Mapping[str, Any], *, auto_offset_reset: str
) -> AIOKafkaConsumer:
    """A started consumer of our own, outside the group, for reading single records back; the
    caller assigns, seeks and stops it."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
        fetch_max_wait_ms=50,
        request_timeout_ms=int(READ_TIMEOUT_S * 1000),
        **security,
    )
    try:
        await asyncio.wait_for(consumer.start(), READ_TIMEOUT_S)
    except BaseException:
        await consumer.stop()
        raise
    return consumer


def _forget(consumer: Any, tp: Any) -> None:
    """Drop Faust's acknowledgement and commit bookkeeping of one partition."""
    consumer.floors.pop(tp, None)  # offsets of the old log
    consumer._committed_offset[tp] = None
    consumer._read_offset[tp] = None
    consumer._acked.pop(tp, None)
    consumer._acked_index.pop(tp, None)
    consumer._gap.pop(tp, None)
