"""Commit arithmetic: never past an unacknowledged offset, wherever the acknowledgements start."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from agents.overrides.transport import _FastFetchConsumer
from pipeline.kafka.commits import commit_start, next_commit, stalled_at


def test_the_run_starts_at_the_committed_offset_or_the_partitions_start() -> None:
    assert commit_start(None, 0) == 0
    assert commit_start(0, 0) == 0
    assert commit_start(40, 0) == 40
    assert commit_start(40, 55) == 55  # offsets the broker showed hold no records
    assert commit_start(None, 7) == 7


def test_the_commit_stops_at_the_first_unacknowledged_offset() -> None:
    assert next_commit(0, {0, 1, 2, 4}) == 3
    assert next_commit(5, {5, 6, 7}) == 8
    assert next_commit(5, set()) == 5


def test_acknowledgements_that_do_not_start_at_the_committed_offset_commit_nothing() -> None:
    # Faust commits 25 here (it allows one missing offset at the head) and, with nothing
    # committed yet, starts at the lowest acknowledgement: both lose offset 22 (or 0..2).
    assert next_commit(22, {23, 24}) == 22
    assert next_commit(0, {3, 4, 5}) == 0


def test_an_offset_is_stalled_only_when_later_ones_are_acknowledged_and_it_is_not_on_its_way() -> None:
    assert stalled_at(22, {23, 24}, delivered=[]) == 22
    assert stalled_at(22, {23, 24}, delivered=[22, 25]) is None  # still in a lane
    assert stalled_at(22, {22, 23}, delivered=[]) is None  # the commit can advance
    assert stalled_at(22, set(), delivered=[]) is None  # nothing read past it yet
    assert stalled_at(22, {20}, delivered=[]) is None  # stale acknowledgements only


def _consumer(committed: int | None, acked: list[int], floor: int = 0) -> Any:
    consumer = SimpleNamespace(
        _acked=defaultdict(list, {"tp": list(acked)}),
        _acked_index=defaultdict(set, {"tp": set(acked)}),
    )
    consumer.commit_start = lambda tp: commit_start(committed, floor)
    return consumer


def test_the_worker_consumer_commits_a_contiguous_run_and_keeps_what_lies_beyond() -> None:
    consumer = _consumer(10, [13, 10, 11, 15])
    assert _FastFetchConsumer._new_offset(consumer, "tp") == 12
    assert consumer._acked["tp"] == [13, 15]
    assert consumer._acked_index["tp"] == {13, 15}


def test_the_worker_consumer_commits_nothing_before_the_head_is_acknowledged() -> None:
    consumer = _consumer(None, [1, 2, 3])
    assert _FastFetchConsumer._new_offset(consumer, "tp") is None
    assert consumer._acked["tp"] == [1, 2, 3]  # kept for when offset 0 is acknowledged


def test_the_worker_consumer_passes_offsets_below_the_floor() -> None:
    consumer = _consumer(20, [23, 24], floor=23)
    assert _FastFetchConsumer._new_offset(consumer, "tp") == 25
    assert consumer._acked["tp"] == []
