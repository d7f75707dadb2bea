from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import faust

from agents.app import create_app
from agents.overrides.changelog import CHANGELOG_FLUSH_S, CoalescedChangelogTable, flush_changelogs
from pipeline.settings import Settings
from tests.agents.changelog_recorder import Sent, record_changelog


def _table(app: faust.App | None = None) -> tuple[faust.App, Any, Sent]:
    """A coalesced table (on a plain app unless given one), with its changelog records recorded
    instead of produced."""
    app = app or faust.App("tables-test", broker="memory://", store="memory://")
    table: Any = app.tables.add(
        CoalescedChangelogTable(
            app,
            name="coalesced",
            default=None,
            beacon=app.tables.beacon,
            key_type=bytes,
            value_type=bytes,
            partitions=4,
            use_partitioner=True,
        )
    )
    return app, table, record_changelog(table)


def test_changed_keys_reach_the_changelog_once_each_with_their_latest_value() -> None:
    app, table, sent = _table()
    table[b"acct-1"] = b"first"
    table[b"acct-2"] = b"only"
    table[b"acct-1"] = b"second"

    assert sent == []  # nothing is written per assignment
    assert table[b"acct-1"] == b"second"  # but the table reads its latest value at once
    assert flush_changelogs(app) == 2
    # None: the producer's partitioner picks the partition from the key (use_partitioner).
    assert sent == [(None, b"acct-1", b"second"), (None, b"acct-2", b"only")]
    assert flush_changelogs(app) == 0 and len(sent) == 2  # a key is written again only if it changes


def test_a_deleted_key_is_not_brought_back_by_a_pending_value() -> None:
    app, table, sent = _table()
    table[b"acct-1"] = b"history"
    table[b"acct-2"] = b"history"
    del table[b"acct-1"]

    assert sent == [(None, b"acct-1", None)]  # the tombstone, at once
    assert flush_changelogs(app) == 1
    assert sent[1:] == [(None, b"acct-2", b"history")]


def test_the_workers_producer_writes_pending_changes_before_it_flushes() -> None:
    # Faust flushes its producer before every offset commit and when partitions are revoked.
    app, table, sent = _table(create_app(Settings(), "127.0.0.1:9"))
    table[b"acct-1"] = b"history"
    assert sent == []

    asyncio.run(app.producer.flush())
    assert sent == [(None, b"acct-1", b"history")]


def test_the_table_writes_pending_changes_on_its_own_timer() -> None:
    _, table, sent = _table()
    table[b"acct-1"] = b"history"

    async def run_timer_briefly() -> None:
        timer = CoalescedChangelogTable._flush_changelog_periodically(table)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(timer, timeout=CHANGELOG_FLUSH_S * 3)

    asyncio.run(run_timer_briefly())
    assert sent == [(None, b"acct-1", b"history")]
