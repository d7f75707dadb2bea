"""Faust tables whose changelog is written per changed key, not per assignment.

Faust writes one changelog record per assignment: at tens to hundreds of updates a second that is
one more single-record produce request per event for a broker that shares our cores. A compacted
changelog needs only each key's latest value to recover, so ``CoalescedChangelogTable`` collects the
keys that changed and writes each once, with its latest value, every ``CHANGELOG_FLUSH_S`` and
whenever the worker's producer is flushed (``flush_changelogs``, called by ``agents.overrides.transport``),
which Faust does before every offset commit and when partitions are revoked. So no committed offset
covers a change the changelog lacks (a crash replays the uncommitted events, whose changes are then
made once more), and the worker taking over a partition never sees our older value written after
its own.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import AppT
from mode import Service

# How often changed keys reach the changelog at the latest. Off the scoring path; a shorter
# interval writes more, smaller produce requests.
CHANGELOG_FLUSH_S = 0.1


class CoalescedChangelogTable(faust.Table[Any, Any]):
    """A Faust table whose changelog gets each changed key once per flush, with its latest value.

    Only for tables without windows or key expiry (Faust's ``on_key_set`` also manages those).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._changed: dict[Any, Any] = {}

    def on_key_set(self, key: Any, value: Any) -> None:
        # The store itself is updated by the caller (``ManagedUserDict.__setitem__``).
        self._changed[key] = value
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        # The deletion goes out now; a pending older value must not follow and bring the key back.
        self._changed.pop(key, None)
        super().on_key_del(key)

    def flush_changelog(self) -> int:
        """Hands every key changed since the last flush to Faust's producer buffer; returns how many."""
        changed, self._changed = self._changed, {}
        for key, value in changed.items():
            self.send_changelog(self.partition_for_key(key), key, value)
        return len(changed)

    @Service.timer(CHANGELOG_FLUSH_S)
    async def _flush_changelog_periodically(self) -> None:
        # Runs while the table runs (Faust starts its tables with the worker).
        self.flush_changelog()


def flush_changelogs(app: AppT) -> int:
    """Flushes the app's coalesced tables (before Faust flushes its producer); returns the keys sent."""
    return sum(
        table.flush_changelog() for table in app.tables.values() if isinstance(table, CoalescedChangelogTable)
    )
