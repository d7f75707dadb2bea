"""End to end against the real embedded broker: a worker process, real models, real topics.

Every consumed event ends as a score (maybe plus an alert) or a dead letter; a worker killed with
SIGKILL mid-stream and restarted loses no event.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from pipeline.kafka.topics import ensure_topics
from pipeline.settings import Settings
from pipeline.synthetic.transactions import generate_texts, generate_transactions
from pipeline.tooling.demo import MALFORMED_KINDS, malformed_message
from tests.integration.kafka_helpers import produce_many
from tests.integration.workers import (
    CHAOS,
    MODEL_DIR,
    WORKER_PARTITIONS,
    Topics,
    WorkerProcess,
    collect,
    keyed,
    restart_scores_every_event,
    scores_until_complete,
    values,
    worker_env,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
]

DEFAULTS = Settings()


def mixed_events(
    n_tx: int, n_text: int, seed: int
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    txs = [tx for tx, _ in generate_transactions(n_tx, seed=seed, fraud_rate=0.1)]
    texts = generate_texts(n_text, seed=seed)
    return txs, texts


async def transactions_for_test_worker(
    broker: str, tmp_path: Path, name: str, n_tx: int, seed: int, **env: str
) -> tuple[Topics, list[dict[str, object]], WorkerProcess]:
    """Fresh topics, ``n_tx`` transactions for them, and ``tests.integration.<name>_worker`` (a
    worker with an injected fault) started on them with ``env``."""
    topics = Topics()
    txs, _ = mixed_events(n_tx, 0, seed=seed)
    # Created as the worker would (it creates them only once its models are loaded): the tests
    # produce at once, which would otherwise auto-create the topic with the broker's default count.
    await ensure_topics(broker, [topics.transactions], WORKER_PARTITIONS)
    module = (f"tests.integration.{name}_worker",)
    worker = WorkerProcess(worker_env(broker, topics, **env), tmp_path / f"{name}.log", module=module)
    return topics, txs, worker


async def test_1000_mixed_events_give_950_scores_50_dead_letters_and_alerts(
    broker: str, tmp_path: Path
) -> None:
    topics = Topics()
    rng = random.Random(7)
    txs, texts = mixed_events(600, 350, seed=11)
    # 50 malformed messages, every kind of breakage, on both input topics.
    bad = [malformed_message(MALFORMED_KINDS[i % len(MALFORMED_KINDS)], rng) for i in range(50)]
    bad_tx, bad_text = bad[:25], bad[25:]

    worker = WorkerProcess(worker_env(broker, topics), tmp_path / "worker.log")
    try:
        await produce_many(
            broker, topics.transactions, [keyed(tx) for tx in txs] + [(None, b) for b in bad_tx]
        )
        await produce_many(broker, topics.texts, [keyed(t) for t in texts] + [(None, b) for b in bad_text])

        records = await collect(
            broker,
            [topics.scores_transactions, topics.scores_texts, topics.deadletter],
            lambda rs: len(rs) >= 1000,
            timeout_s=180,
            settle_s=3.0,
            alive=worker.assert_alive,
        )
        alerts = await collect(
            broker, [topics.alerts_fraud, topics.alerts_sentiment], lambda rs: False, timeout_s=3
        )
    finally:
        worker.stop()

    scores = values(r for r in records if r.topic != topics.deadletter)
    dead = [r for r in records if r.topic == topics.deadletter]

    # Exactly one score per valid event, and one dead letter per malformed message.
    valid_ids = {str(e["event_id"]) for e in txs + texts}
    score_ids = [str(s["event_id"]) for s in scores]
    assert len(scores) == 950
    assert set(score_ids) == valid_ids and len(set(score_ids)) == 950
    assert len(dead) == 50

    # Dead letters: a clear reason, where the message came from, and the original bytes.
    sent_bad = {topics.transactions: sorted(bad_tx), topics.texts: sorted(bad_text)}
    got_bad: dict[str, list[bytes]] = {topics.transactions: [], topics.texts: []}
    for record in dead:
        letter = orjson.loads(record.value)
        headers = dict(record.headers)
        assert letter["error"]["type"] and letter["error"]["message"]
        assert headers["x-error-type"].decode() == letter["error"]["type"]
        assert headers["x-source-topic"].decode() == letter["source"]["topic"]
        got_bad[letter["source"]["topic"]].append(base64.b64decode(letter["raw"]))
    assert {topic: sorted(raw) for topic, raw in got_bad.items()} == sent_bad
    assert len({orjson.loads(r.value)["error"]["type"] for r in dead}) >= 5

    # Every score is well-formed, measured and attributed to the provider that ran it.
    for score in scores:
        assert 0.0 <= score["score"] <= 1.0  # type: ignore[operator]
        assert score["latency_ms"] > 0  # type: ignore[operator]
        ts = score["timestamps"]
        assert ts["ingested"] <= ts["scored"] <= ts["published"]  # type: ignore[index]
        assert score["model"]["provider"] == "CPUExecutionProvider"  # type: ignore[index]

    # Alerts: every score over its threshold raised one, with a deterministic id and reasons.
    alert_values = values(alerts)
    alerted = {str(a["event_id"]) for a in alert_values}
    over = {
        str(s["event_id"])
        for s in scores
        if (s["kind"] == "fraud" and s["score"] >= DEFAULTS.fraud_threshold)  # type: ignore[operator]
        or (s["kind"] == "sentiment" and s["score"] >= DEFAULTS.sentiment_threshold)  # type: ignore[operator]
    }
    assert over, "the mix must contain events over threshold"
    assert over <= alerted <= valid_ids
    assert len({a["alert_id"] for a in alert_values}) == len(alert_values)
    assert all(a["reasons"] and a["severity"] in ("low", "medium", "high", "critical") for a in alert_values)
    kinds = Counter(str(a["kind"]) for a in alert_values)
    assert kinds["fraud"] > 0 and kinds["sentiment"] > 0


async def test_worker_killed_mid_stream_and_restarted_loses_no_event(broker: str, tmp_path: Path) -> None:
    topics = Topics()
    # 3,000 events; 20,000 under `make chaos` (STREAMGUARD_CHAOS=1).
    txs, texts = mixed_events(*((12_000, 8_000) if CHAOS else (1800, 1200)), seed=23)
    events = txs + texts
    random.Random(3).shuffle(events)
    expected = {str(e["event_id"]) for e in events}
    score_topics = [topics.scores_transactions, topics.scores_texts]

    first = WorkerProcess(worker_env(broker, topics), tmp_path / "worker-1.log")
    try:
        half = len(events) // 2
        await produce_many(broker, topics.transactions, [keyed(e) for e in events[:half] if "amount" in e])
        await produce_many(broker, topics.texts, [keyed(e) for e in events[:half] if "text" in e])
        # Kill it once it is busy: some, but not all, of the first half scored.
        await collect(
            broker,
            score_topics,
            lambda rs: len(rs) >= 200,
            timeout_s=120,
            settle_s=0,
            alive=first.assert_alive,
        )
    finally:
        first.kill()

    # More events arrive while no worker runs.
    await produce_many(broker, topics.transactions, [keyed(e) for e in events[half:] if "amount" in e])
    await produce_many(broker, topics.texts, [keyed(e) for e in events[half:] if "text" in e])

    await restart_scores_every_event(
        broker, topics, score_topics, expected, tmp_path / "worker-2.log", "crash test"
    )


async def test_worker_stopped_gracefully_mid_stream_commits_only_what_it_published(
    broker: str, tmp_path: Path
) -> None:
    topics = Topics()
    txs, _ = mixed_events(2500, 0, seed=31)
    expected = {str(tx["event_id"]) for tx in txs}

    first = WorkerProcess(worker_env(broker, topics), tmp_path / "worker-1.log")
    try:
        await produce_many(broker, topics.transactions, [keyed(tx) for tx in txs])
        await collect(
            broker,
            [topics.scores_transactions],
            lambda rs: len(rs) >= 300,
            timeout_s=120,
            settle_s=0,
            alive=first.assert_alive,
        )
    finally:
        stopping = time.monotonic()
        returncode = first.stop()  # SIGINT: drain the lanes, then Faust commits what was acknowledged
        print(f"\ngraceful stop under load took {time.monotonic() - stopping:.1f} s")
        assert returncode == 0

    await restart_scores_every_event(
        broker, topics, [topics.scores_transactions], expected, tmp_path / "worker-2.log", "graceful stop"
    )


async def test_a_lane_that_dies_crashes_the_worker_and_a_restart_loses_no_event(
    broker: str, tmp_path: Path
) -> None:
    """A bug that kills a lane must not leave a worker that runs but scores nothing: it exits
    non-zero, naming the cause, and the restarted worker scores everything not acknowledged."""
    topics, txs, faulty = await transactions_for_test_worker(
        broker, tmp_path, "faulty", 600, seed=43, STREAMGUARD_TEST_FAIL_AFTER_BATCHES="3"
    )
    expected = {str(tx["event_id"]) for tx in txs}
    try:
        await produce_many(broker, topics.transactions, [keyed(tx) for tx in txs])
        returncode = await asyncio.to_thread(faulty.wait_for_exit, 180)
    finally:
        faulty.stop()
    log = faulty.log_path.read_text(errors="replace")
    print(f"\nlane failure: worker exited with {returncode}")
    assert returncode != 0, log[-3000:]
    assert "lane fraud failed: InjectedFailure" in log, log[-3000:]

    await restart_scores_every_event(
        broker, topics, [topics.scores_transactions], expected, tmp_path / "worker-2.log", "lane failure"
    )


async def test_a_record_lost_on_its_way_to_the_agent_is_read_again_and_scored(
    broker: str, tmp_path: Path
) -> None:
    """A record fetched but dropped before the agent must not be committed past: the gap guard
    notices the stalled commit, finds the record on the broker and reads the partition again."""
    topics, txs, lossy = await transactions_for_test_worker(
        broker, tmp_path, "lossy", 200, seed=47, STREAMGUARD_TEST_DROP="0:5"
    )
    expected = {str(tx["event_id"]) for tx in txs}
    try:
        await produce_many(broker, topics.transactions, [keyed(tx) for tx in txs])
        ids = await scores_until_complete(
            broker, [topics.scores_transactions], expected, lossy, "lost record"
        )
    finally:
        lossy.stop()
    log = lossy.log_path.read_text(errors="replace")
    assert f"dropped {topics.transactions}-0@5" in log, log[-3000:]
    assert "offset 5 was fetched but never reached the agent" in log, log[-3000:]
    assert set(ids) == expected
