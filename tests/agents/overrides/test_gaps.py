"""The gap guard: a record that never reached the agent is read again; offsets without records
are committed past. The broker's answer is stood in for; tests/integration covers the real one."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from agents.overrides.gaps import GapGuard
from pipeline.kafka.commits import commit_start
from tests.unit.metric_samples import value


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass(eq=False)
class Message:
    tp: TP
    offset: int


A = TP("transactions", 0)


@dataclass
class FakeConsumer:
    committed: int | None = 20
    seeks: list[tuple[TP, int]] = field(default_factory=list)
    floors: dict[TP, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set, {A: {21, 22}})
        self._unacked_messages: set[Message] = set()

    def assignment(self) -> set[TP]:
        return {A}

    def commit_start(self, tp: TP) -> int:
        return commit_start(self.committed, self.floors.get(tp, 0))

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


class FakeApp:
    rebalancing = False
    should_stop = False

    def __init__(self, consumer: FakeConsumer) -> None:
        self.consumer = consumer


def guard(consumer: FakeConsumer, first_record: int | None) -> GapGuard:
    g = GapGuard(FakeApp(consumer), "unused:9092")  # type: ignore[arg-type]

    async def first_records(wanted: dict[Any, int]) -> dict[Any, int]:
        return {} if first_record is None else dict.fromkeys(wanted, first_record)

    g._first_records = first_records  # type: ignore[method-assign]
    return g


async def test_a_record_that_never_reached_the_agent_is_read_again_after_two_checks() -> None:
    consumer = FakeConsumer()
    g = guard(consumer, first_record=20)
    await g.check()
    assert consumer.seeks == []  # once could be a record on its way right now
    await g.check()
    assert consumer.seeks == [(A, 20)]
    assert value(g.metrics, "streamguard_input_rereads_total", topic="transactions") == 1


async def test_offsets_without_records_raise_the_floor_instead() -> None:
    consumer = FakeConsumer()
    g = guard(consumer, first_record=21)  # offset 20: a transaction marker, say
    await g.check()
    await g.check()
    assert consumer.seeks == []
    assert consumer.floors == {A: 21}
    assert consumer.commit_start(A) == 21
    assert value(g.metrics, "streamguard_input_offsets_without_records_total", topic="transactions") == 1


async def test_a_record_still_in_a_lane_is_left_alone() -> None:
    consumer = FakeConsumer()
    consumer._unacked_messages.add(Message(A, 20))
    g = guard(consumer, first_record=20)
    await g.check()
    await g.check()
    assert consumer.seeks == [] and consumer.floors == {}


async def test_no_answer_from_the_broker_decides_nothing() -> None:
    consumer = FakeConsumer()
    g = guard(consumer, first_record=None)
    for _ in range(3):
        await g.check()
    assert consumer.seeks == [] and consumer.floors == {}
