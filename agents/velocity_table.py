"""The ``account-velocity`` Faust table: each account's recent transactions, for velocity features.

Wiring only; what is stored and computed lives in ``pipeline.features.velocity``. The table's changelog topic
lets a restarted worker, or the worker that takes over a partition, recover the histories.
Histories are exact when an account's transactions all reach one partition: producers should key
``transactions`` by ``account_id`` (the demo producer does).

Its changelog gets each changed account once per flush, with its latest history
(``agents.overrides.changelog.CoalescedChangelogTable``), not one record per transaction.
"""

from __future__ import annotations

from typing import Any

import faust

from agents.overrides.changelog import CoalescedChangelogTable
from pipeline.features.model_inputs import observe_velocity
from pipeline.features.velocity import Velocity
from pipeline.settings import Settings
from schemas import Transaction

TABLE_NAME = "account-velocity"


def changelog_topic(settings: Settings) -> str:
    """The table's changelog topic, as Faust names it; created up front with the other topics."""
    return f"{settings.app_id}-{TABLE_NAME}-changelog"


class VelocityTable:
    """Looks up and updates an account's history as its transactions are consumed."""

    def __init__(self, app: faust.App, settings: Settings, partitions: int) -> None:
        # ``partitions``: those of the transactions topic; Faust refuses a changelog that differs.
        # bytes in and out: values are pipeline.features.velocity's compact JSON, keys the account id.
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

    def enrich(self, tx: Transaction) -> Velocity:
        """The account's velocity before ``tx``; records ``tx``. Call from the agent, in order."""
        key = tx.account_id.encode()
        velocity, history = observe_velocity(self.table.get(key), tx)
        self.table[key] = history
        return velocity
