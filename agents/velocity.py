"""The ``account-velocity`` Faust table: each account's recent transactions, for velocity features.

Wiring only; what is stored and computed lives in ``pipeline.velocity``. The table's changelog topic
lets a restarted worker, or the worker that takes over a partition, recover the histories.
Histories are exact when an account's transactions all reach one partition: producers should key
``transactions`` by ``account_id`` (the demo producer does).

Faust writes one changelog record per assignment. At tens to hundreds of transactions a second that
was one more single-record produce request per transaction for a broker that shares our cores. The
changelog is compacted, so recovery needs only each account's latest history: the table collects the
accounts that changed and writes each once, with its latest value, every ``CHANGELOG_FLUSH_S``, and
whenever the worker's producer is flushed, which Faust does before every offset commit and when
partitions are revoked. So no committed offset covers a change the changelog lacks (a crash replays
the uncommitted transactions, whose histories count each event once), and the worker taking over a
partition never sees our older value written after its own.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import AppT

from pipeline.features import observe_velocity
from pipeline.settings import Settings
from pipeline.velocity import Velocity
from schemas import Transaction

TABLE_NAME = "account-velocity"
# How often changed histories reach the changelog at the latest. Off the scoring path; a shorter
# interval writes more, smaller produce requests.
CHANGELOG_FLUSH_S = 0.1


def changelog_topic(settings: Settings) -> str:
    """The table's changelog topic, as Faust names it; created up front with the other topics."""
    return f"{settings.app_id}-{TABLE_NAME}-changelog"


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


def flush_changelogs(app: AppT) -> int:
    """Flushes the app's coalesced tables (before Faust flushes its producer); returns the keys sent."""
    return sum(
        table.flush_changelog() for table in app.tables.values() if isinstance(table, CoalescedChangelogTable)
    )


class VelocityTable:
    """Looks up and updates an account's history as its transactions are consumed."""

    def __init__(self, app: faust.App, settings: Settings, partitions: int) -> None:
        # ``partitions``: those of the transactions topic; Faust refuses a changelog that differs.
        # bytes in and out: values are pipeline.velocity's compact JSON, keys the account id.
        self.table: Any = app.tables.add(
            CoalescedChangelogTable(
                app,
                name=TABLE_NAME,
                default=None,
                beacon=app.tables.beacon,
                key_type=bytes,
                value_type=bytes,
                partitions=partitions,
                # The producer picks the changelog partition from the key (as it does for
                # account-keyed input, so the two line up). Writing to the event's own partition
                # instead crashed Faust's producer when a recreated topic had fewer partitions (a
                # broker restart).
                use_partitioner=True,
                help="recent transactions per account (velocity features)",
            )
        )
        app.timer(CHANGELOG_FLUSH_S, name="velocity-changelog-flush")(self._flush_on_timer)

    async def _flush_on_timer(self) -> None:
        self.table.flush_changelog()

    def enrich(self, tx: Transaction) -> Velocity:
        """The account's velocity before ``tx``; records ``tx``. Call from the agent, in order."""
        key = tx.account_id.encode()
        velocity, history = observe_velocity(self.table.get(key), tx)
        self.table[key] = history
        return velocity
