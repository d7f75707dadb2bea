from __future__ import annotations

import faust

from agents.overrides.changelog import CoalescedChangelogTable, flush_changelogs
from agents.velocity_table import VelocityTable
from pipeline.settings import Settings
from tests.agents.changelog_recorder import Sent, record_changelog
from tests.unit.event_factories import make_tx


def _table() -> tuple[faust.App, VelocityTable, Sent]:
    """The worker's velocity table on a plain app, with its changelog records recorded instead of
    produced."""
    app = faust.App("velocity-test", broker="memory://", store="memory://")
    velocity = VelocityTable(app, Settings(), partitions=4)
    return app, velocity, record_changelog(velocity.table)


def test_a_transaction_is_recorded_in_its_account_history_and_flushed() -> None:
    app, velocity, sent = _table()
    tx = make_tx(event_id="tx-1", account_id="acct-9")
    assert velocity.enrich(tx).count_10m == 0
    assert velocity.enrich(make_tx(event_id="tx-2", account_id="acct-9")).count_10m == 1

    assert flush_changelogs(app) == 1
    ((_, key, history),) = sent
    assert key == b"acct-9" and b"tx-1" in history and b"tx-2" in history


def test_the_velocity_table_writes_its_changelog_coalesced() -> None:
    _, velocity, _ = _table()
    assert isinstance(velocity.table, CoalescedChangelogTable)
