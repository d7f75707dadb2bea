"""Two workers in one consumer group over 4 partitions share the load; when one is killed the other
takes over its partitions and no event is lost."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from pipeline.synthetic.transactions import generate_texts, generate_transactions
from tests.integration.kafka_helpers import produce_many
from tests.integration.web_helpers import free_port_pair, get, samples, served_url, total, until_ready
from tests.integration.workers import (
    CHAOS,
    MODEL_DIR,
    Topics,
    WorkerProcess,
    collect,
    keyed,
    scores_until_complete,
    worker_env,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
]


async def scores_counted(base: str) -> float:
    status, body = await asyncio.to_thread(get, base + "metrics")
    assert status == 200
    return total(samples(body.decode()), "streamguard_scores_total")


async def test_two_workers_share_four_partitions_and_one_takes_over(broker: str, tmp_path: Path) -> None:
    topics = Topics()
    n_tx, n_text = (6000, 4000) if CHAOS else (1200, 800)  # `make chaos`: 10,000 events
    txs = [tx for tx, _ in generate_transactions(n_tx, seed=41)]
    texts = generate_texts(n_text, seed=41)
    events = txs + texts
    random.Random(5).shuffle(events)
    expected = {str(e["event_id"]) for e in events}
    half = len(events) // 2
    port_a, port_b = free_port_pair(), free_port_pair() + 5
    common = {"STREAMGUARD_PARTITIONS": "4"}
    a = WorkerProcess(
        worker_env(broker, topics, STREAMGUARD_WEB_PORT=str(port_a), **common), tmp_path / "a.log"
    )
    b = WorkerProcess(
        worker_env(broker, topics, STREAMGUARD_WEB_PORT=str(port_b), **common), tmp_path / "b.log"
    )
    try:
        base_a, base_b = await served_url(a), await served_url(b)
        await until_ready(a, base_a)
        await until_ready(b, base_b)
        first = events[:half]
        await produce_many(broker, topics.transactions, [keyed(e) for e in first if "amount" in e])
        await produce_many(broker, topics.texts, [keyed(e) for e in first if "text" in e])
        await collect(
            broker,
            [topics.scores_transactions, topics.scores_texts],
            lambda rs: len(rs) >= half,
            timeout_s=120,
            settle_s=0.5,
        )
        # Both workers did part of the work.
        share_a, share_b = await scores_counted(base_a), await scores_counted(base_b)
        print(f"\nshared load: worker A scored {share_a:.0f}, worker B {share_b:.0f}")
        assert share_a > 0 and share_b > 0

        # The second half arrives; A is killed while it is working through its part of it, so it
        # dies holding fetched, unacknowledged events that B must consume again.
        rest = events[half:]
        await produce_many(broker, topics.transactions, [keyed(e) for e in rest if "amount" in e])
        await produce_many(broker, topics.texts, [keyed(e) for e in rest if "text" in e])
        deadline = asyncio.get_running_loop().time() + 60
        while (now_a := await scores_counted(base_a)) < share_a + 20:
            a.assert_alive()
            assert asyncio.get_running_loop().time() < deadline, "worker A never took up the backlog"
            await asyncio.sleep(0.02)
        scored_at_kill = now_a + await scores_counted(base_b)
    finally:
        a.kill()  # A dies without a goodbye; B must take its partitions over
    print(f"fail-over: A killed with {len(events) - scored_at_kill:.0f} of {len(events)} events unscored")
    assert scored_at_kill < len(events), "the backlog was done before the kill: kill earlier"

    try:
        ids = await scores_until_complete(
            broker, [topics.scores_transactions, topics.scores_texts], expected, b, "fail-over"
        )
    finally:
        b.stop()
    assert set(ids) == expected
