"""Which input offset may be committed, and which one holds the commit back: pure arithmetic.

A committed offset says "every record before it has its outputs delivered". Acknowledgements
arrive out of order (a lane confirms its batches as the broker answers, dead letters on their
own), so the commit may only advance over a run of acknowledged offsets that starts where the
last commit ended. Faust's own rule has two holes that lose records (the lane-failure test lost one
event in 3 of 9 runs):

* with nothing committed yet, it starts the run at the lowest acknowledged offset, not at the
  partition's start;
* it skips one unacknowledged offset at the head of the run (``min(acked) - committed > 1``).

An offset that is never acknowledged is either still on its way (delivered to the agent, not yet
confirmed), lost between the fetch and the agent, or no record at all (a transaction marker, a
compacted record, the log's start moved on). ``stalled_at`` names it once later offsets are
acknowledged and it was never delivered; the broker then tells the last two apart
(``agents.overrides.gaps``).
"""

from __future__ import annotations

from collections.abc import Collection


def commit_start(committed: int | None, floor: int) -> int:
    """Where the next run of acknowledged offsets must start: the committed offset (the next one
    to read), or the partition's start when nothing was committed; never below ``floor`` (offsets
    the broker showed hold no record)."""
    return max(committed or 0, floor)


def next_commit(start: int, acked: Collection[int]) -> int:
    """The offset to commit: the first one at or after ``start`` not acknowledged (``start``
    itself when nothing can be committed)."""
    offset = start
    while offset in acked:
        offset += 1
    return offset


def stalled_at(start: int, acked: Collection[int], delivered: Collection[int]) -> int | None:
    """The offset that holds the commit back although it never reached the agent, or None.

    ``delivered``: offsets handed to the agent and not yet acknowledged (on their way). Records
    reach the agent in offset order, so once an offset above ``start`` is acknowledged, an
    unacknowledged ``start`` that is not on its way never will be: it was lost, or it is no record.
    """
    if start in acked or not acked or max(acked) < start:
        return None
    return None if start in delivered else start
