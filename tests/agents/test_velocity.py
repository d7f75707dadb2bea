from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace
from typing import Any

import faust

from agents.app import create_app
from agents.velocity import CHANGELOG_FLUSH_S, TABLE_NAME, VelocityTable, flush_changelogs
from pipeline.settings import Settings
from tests.unit.test_features import make_tx

Sent = list[tuple[Any, bytes, bytes]]


def _table(app: faust.App | None = None) -> tuple[faust.App, VelocityTable, Sent]:
    """The worker's velocity table (on a plain app unless given one), with its changelog records
    recorded instead of produced."""
    app = app or faust.App("velocity-test", broker="memory://", store="memory://")
    velocity = VelocityTable(app, Settings(), partitions=4)
    sent: Sent = []

    def send_changelog(partition: int | None, key: bytes, value: bytes | None, *_: Any, **__: Any) -> Any:
        sent.append((partition, key, value))
        return SimpleNamespace(message=SimpleNamespace(partition=0))  # as Faust's FutureMessage

    velocity.table.send_changelog = send_changelog
    return app, velocity, sent


def test_changed_keys_reach_the_changelog_once_each_with_their_latest_value() -> None:
    app, velocity, sent = _table()
    table = velocity.table
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
    app, velocity, sent = _table()
    velocity.table[b"acct-1"] = b"history"
    velocity.table[b"acct-2"] = b"history"
    del velocity.table[b"acct-1"]

    assert sent == [(None, b"acct-1", None)]  # the tombstone, at once
    assert flush_changelogs(app) == 1
    assert sent[1:] == [(None, b"acct-2", b"history")]


def test_a_transaction_is_recorded_in_its_account_history_and_flushed() -> None:
    app, velocity, sent = _table()
    tx = make_tx(event_id="tx-1", account_id="acct-9")
    assert velocity.enrich(tx).count_10m == 0
    assert velocity.enrich(make_tx(event_id="tx-2", account_id="acct-9")).count_10m == 1

    assert flush_changelogs(app) == 1
    ((_, key, history),) = sent
    assert key == b"acct-9" and b"tx-1" in history and b"tx-2" in history


def test_the_workers_producer_writes_pending_changes_before_it_flushes() -> None:
    # Faust flushes its producer before every offset commit and when partitions are revoked.
    app, _, sent = _table(create_app(Settings(), "127.0.0.1:9"))
    app.tables[TABLE_NAME][b"acct-1"] = b"history"
    assert sent == []

    asyncio.run(app.producer.flush())
    assert sent == [(None, b"acct-1", b"history")]


def test_changes_are_also_written_on_a_timer() -> None:
    app, velocity, sent = _table()
    (timer,) = app._app_tasks
    velocity.table[b"acct-1"] = b"history"

    async def run_timer_briefly() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(timer(), timeout=CHANGELOG_FLUSH_S * 3)

    asyncio.run(run_timer_briefly())
    assert sent == [(None, b"acct-1", b"history")]
