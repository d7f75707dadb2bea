"""The log-restart guard: deciding that a log was recreated, and rewinding without stale acks."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.structs import OffsetAndMetadata

from agents.overrides.offsets import (
    LogRestartGuard,
    LogState,
    beyond_end,
    judge,
    message_fingerprint,
    record_fingerprint,
)
from tests.unit.metric_samples import value


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass(frozen=True)
class Record:  # what aiokafka returns: timestamp in milliseconds
    offset: int
    timestamp: int | None
    key: bytes | None
    value: bytes | None


@dataclass(eq=False)
class Message:  # what Faust delivers: timestamp in seconds
    tp: TP
    offset: int
    timestamp: float | None
    key: bytes | None
    value: bytes | None
    acked: bool = False


A, B = TP("texts", 0), TP("texts", 1)


def test_position_past_the_end_only_when_both_are_known() -> None:
    assert beyond_end(11, 10)
    assert not beyond_end(10, 10)
    assert not beyond_end(3, 10)
    assert not beyond_end(None, 10)
    assert not beyond_end(11, None)


def test_a_message_and_the_same_record_have_the_same_fingerprint() -> None:
    message = Message(A, 7, 1_700_000_000.123, b"k", b"v")
    assert message_fingerprint(message) == record_fingerprint(Record(7, 1_700_000_000_123, b"k", b"v"))
    assert message_fingerprint(Message(A, 7, None, None, b"v")) == (None, None, b"v")


@pytest.mark.parametrize(
    ("found", "highwater", "state"),
    [
        (Record(7, 1000, b"k", b"v"), 50, LogState.SAME),
        (Record(7, 2000, b"k", b"v"), 50, LogState.REPLACED),  # same payload, produced again later
        (Record(7, 1000, b"other", b"v"), 50, LogState.REPLACED),
        (None, 7, LogState.SHORTER),  # the log ends at the record's offset: it is gone
        (None, 3, LogState.SHORTER),
        (None, 8, LogState.UNKNOWN),  # there but not (yet) returned
        (None, None, LogState.UNKNOWN),
        (Record(9, 1000, b"k", b"v"), 50, LogState.UNKNOWN),  # compacted away
    ],
)
def test_judging_the_brokers_answer(found: Record | None, highwater: int | None, state: LogState) -> None:
    assert judge((1000, b"k", b"v"), 7, found, highwater) is state


def test_only_a_replaced_or_shorter_log_counts_as_recreated() -> None:
    assert {s for s in LogState if s.recreated} == {LogState.REPLACED, LogState.SHORTER}


class FakeThread:
    def __init__(self, consumer: FakeConsumer) -> None:
        self.consumer = consumer

    def _ensure_consumer(self) -> FakeThread:
        return self

    async def commit(self, offsets: dict[Any, OffsetAndMetadata]) -> None:
        self.consumer.commits.append({(tp.topic, tp.partition): o.offset for tp, o in offsets.items()})

    async def call_thread(self, method: Any, *args: Any) -> Any:
        return await method(*args)


@dataclass
class FakeConsumer:
    positions: dict[TP, int] = field(default_factory=dict)
    highwaters: dict[TP, int] = field(default_factory=dict)
    seeks: list[tuple[TP, int]] = field(default_factory=list)
    commits: list[dict[tuple[str, int], int]] = field(default_factory=list)
    flow_active: bool = True

    def __post_init__(self) -> None:
        self._unacked_messages: set[Message] = set()
        self._committed_offset: dict[TP, int | None] = {A: 500, B: 400}
        self._read_offset: dict[TP, int | None] = {A: 520, B: 410}
        self._acked: defaultdict[TP, list[int]] = defaultdict(list, {A: [510, 511], B: [405]})
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set, {A: {510, 511}, B: {405}})
        self._gap: dict[TP, object] = {A: object(), B: object()}
        self.floors: dict[TP, int] = {A: 505, B: 402}  # agents.overrides.transport's consumer
        self._thread = FakeThread(self)

    def assignment(self) -> set[TP]:
        return {A, B}

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters.get(tp)

    async def position(self, tp: TP) -> int | None:
        return self.positions.get(tp)

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def maybe_wait_for_commit_to_finish(self) -> bool:
        # A commit chosen before the rewind lands meanwhile, with A's stale offset.
        self._committed_offset[A] = 530
        self._acked[A].append(531)
        return True


class FakeSignal:
    def __init__(self) -> None:
        self.receivers: list[Any] = []

    def connect(self, receiver: Any) -> None:
        self.receivers.append(receiver)


class FakeSensors:
    def add(self, sensor: Any) -> None:
        self.sensor = sensor


class FakeApp:
    def __init__(self) -> None:
        self.consumer = FakeConsumer()
        self.sensors = FakeSensors()
        self.on_partitions_revoked = FakeSignal()
        self.rebalancing = False
        self.rebalancing_count = 0
        self.should_stop = False


def guard_with(app: FakeApp, answers: dict[TP, LogState]) -> tuple[LogRestartGuard, list[set[TP]]]:
    guard = LogRestartGuard(app, "127.0.0.1:1")  # type: ignore[arg-type]
    asked: list[set[TP]] = []

    async def read_back(expected: dict[TP, Any]) -> dict[TP, LogState]:
        asked.append(set(expected))
        return {tp: answers[tp] for tp in expected}

    guard._read_back = read_back  # type: ignore[method-assign]
    return guard, asked


def read(app: FakeApp, guard: LogRestartGuard, tp: TP, offset: int) -> Message:
    message = Message(tp, offset, 1.0, b"k%d" % offset, b"v")
    guard.last_read.on_message_in(tp, offset, message)
    app.consumer._unacked_messages.add(message)
    return message


async def test_a_recreated_log_is_rewound_and_acks_of_its_old_messages_cannot_count() -> None:
    app = FakeApp()
    guard, _ = guard_with(app, {A: LogState.SHORTER, B: LogState.SAME})
    old_a = read(app, guard, A, 519)
    old_b = read(app, guard, B, 409)

    assert await guard.check_logs({A, B}) == {A: LogState.SHORTER, B: LogState.SAME}

    consumer = app.consumer
    assert consumer.seeks == [(A, 0)]
    assert consumer.commits == [{("texts", 0): 0}]  # over the stale offset committed while rejoining
    # ... and after a commit that was under way: its stale offset is forgotten too.
    # A's old message is marked acknowledged: its real acknowledgement later is a no-op in Faust.
    assert old_a.acked and old_a not in consumer._unacked_messages
    assert consumer._committed_offset[A] is None and consumer._read_offset[A] is None
    assert A not in consumer._acked and A not in consumer._acked_index and A not in consumer._gap
    assert A not in consumer.floors  # offsets of the old log
    # B's log is intact: untouched.
    assert not old_b.acked and old_b in consumer._unacked_messages
    assert consumer._committed_offset[B] == 400 and consumer._acked[B] == [405]
    assert consumer.floors[B] == 402
    assert value(guard.metrics, "streamguard_input_log_rewinds_total", topic="texts") == 1


async def test_a_rewound_partition_fetched_past_but_never_delivered_is_read_again() -> None:
    app = FakeApp()
    guard, _ = guard_with(app, {A: LogState.SHORTER, B: LogState.SAME})
    read(app, guard, A, 519)
    read(app, guard, B, 409)
    await guard.check_logs({A, B})
    consumer = app.consumer
    consumer.seeks.clear()
    # Assigned again, Faust sought A to the committed 0; then its position moved to the end of
    # the new log (40 records) while none of them reached a stream.
    consumer._read_offset[A] = 0
    consumer.positions, consumer.highwaters = {A: 40, B: 410}, {A: 40, B: 410}
    await guard.check()
    assert consumer.seeks == []  # one look may catch a fetch on its way to the streams
    await guard.check()
    assert consumer.seeks == [(A, 0)]  # nothing moved: read them again
    assert value(guard.metrics, "streamguard_input_log_reseeks_total", topic="texts") == 1
    # Faust delivers from the new log: A is no longer watched, whatever its position does.
    consumer._read_offset[A], consumer.positions[A] = 12, 41
    await guard.check()
    consumer.positions[A] = 60
    await guard.check()
    await guard.check()
    assert consumer.seeks == [(A, 0)]
    assert value(guard.metrics, "streamguard_input_log_reseeks_total", topic="texts") == 1


async def test_a_revocation_checks_the_revoked_partitions_that_were_read() -> None:
    app = FakeApp()
    guard, asked = guard_with(app, {A: LogState.REPLACED, B: LogState.UNKNOWN})
    read(app, guard, A, 10)
    (receiver,) = app.on_partitions_revoked.receivers
    await receiver(app, {A, B}, signal=None)
    assert asked == [{A}]  # B was never read: nothing to compare
    assert app.consumer.seeks == [(A, 0)]


async def test_a_rebalance_checks_each_partition_read_once_and_again_while_unanswered() -> None:
    app = FakeApp()
    guard, asked = guard_with(app, {A: LogState.SAME, B: LogState.UNKNOWN})
    read(app, guard, A, 10)
    read(app, guard, B, 10)
    app.rebalancing, app.rebalancing_count = True, 1
    await guard.check()  # at once, without any position past its end
    await guard.check()
    (receiver,) = app.on_partitions_revoked.receivers
    await receiver(app, {A, B}, signal=None)
    assert asked == [{A, B}, {B}, {B}]  # A answered: not asked again in this rebalance
    app.rebalancing_count = 2  # the next rebalance
    await guard.check()
    assert asked[-1] == {A, B}
    assert app.consumer.seeks == []


async def test_position_past_the_end_triggers_one_check_per_interval() -> None:
    app = FakeApp()
    guard, asked = guard_with(app, {A: LogState.SAME, B: LogState.SAME})
    read(app, guard, A, 10)
    read(app, guard, B, 10)
    app.consumer.positions = {A: 11, B: 11}
    app.consumer.highwaters = {A: 5, B: 11}  # A is past its end, B is not

    app.rebalancing = False
    await guard.check()
    await guard.check()  # within the recheck interval
    assert asked == [{A}]
    assert app.consumer.seeks == []  # the record is still there: a lagging high watermark


async def test_partitions_no_longer_assigned_are_forgotten() -> None:
    app = FakeApp()
    guard, _ = guard_with(app, {})
    gone = TP("texts", 7)
    read(app, guard, gone, 10)
    read(app, guard, A, 10)
    await guard.check()
    assert set(guard.last_read.messages) == {A}


async def test_a_failing_check_after_a_revocation_does_not_break_the_rebalance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = FakeApp()
    guard, _ = guard_with(app, {})
    read(app, guard, A, 10)

    async def broken(tps: set[TP]) -> set[TP]:
        raise ConnectionError("broker gone")

    monkeypatch.setattr(guard, "check_logs", broken)
    (receiver,) = app.on_partitions_revoked.receivers
    await receiver(app, {A}, signal=None)  # logged, not raised
    assert value(guard.metrics, "streamguard_input_log_rewinds_total", topic="texts") == 0
