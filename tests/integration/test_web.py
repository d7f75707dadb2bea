"""The worker's web server against the real broker: /metrics counts what was scored, /healthz and
/readyz answer, and two workers configured with the same port both serve (the second on the next one).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipeline.features.model_inputs import transaction_text
from pipeline.synthetic.transactions import generate_texts, generate_transactions
from pipeline.tooling.demo import malformed_message
from schemas import Transaction
from tests.integration.kafka_helpers import produce_many
from tests.integration.web_helpers import free_port_pair, get, samples, served_url, total, until_ready
from tests.integration.workers import MODEL_DIR, Topics, WorkerProcess, collect, keyed, worker_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
]


async def test_metrics_count_what_the_worker_scored_and_health_answers(broker: str, tmp_path: Path) -> None:
    topics = Topics()
    port = free_port_pair()
    txs = [tx for tx, _ in generate_transactions(5, seed=3, fraud_rate=0.2)]
    texts = generate_texts(3, seed=3)
    bad = [
        malformed_message("not_json", random.Random(1)),
        malformed_message("missing_field", random.Random(2)),
    ]
    worker = WorkerProcess(
        worker_env(broker, topics, STREAMGUARD_WEB_PORT=str(port)), tmp_path / "worker.log"
    )
    try:
        base = await served_url(worker)
        assert base == f"http://127.0.0.1:{port}/"
        assert get(base + "healthz") == (200, b'{"status": "alive"}')
        answers = await until_ready(worker, base)
        assert all(isinstance(body.get("reason"), str) and body["reason"] for _, body in answers)
        assert answers[-1][1]["ready"] is True

        await produce_many(
            broker,
            topics.transactions,
            [keyed(tx) for tx in txs] + [(None, b) for b in bad],
        )
        await produce_many(broker, topics.texts, [keyed(t) for t in texts])
        await collect(
            broker,
            [topics.scores_transactions, topics.scores_texts, topics.deadletter],
            lambda rs: len(rs) >= 10,
            timeout_s=60,
            settle_s=0.5,
            alive=worker.assert_alive,
        )

        status, body = get(base + "metrics")
        assert status == 200
        found = samples(body.decode())
        kind = (("kind", "fraud"),)
        assert found[("streamguard_scores_total", kind)] == 5
        assert found[("streamguard_scores_total", (("kind", "sentiment"),))] == 3
        assert total(found, "streamguard_dead_letters_total") == 2
        assert found[("streamguard_events_consumed_total", (("topic", topics.transactions),))] == 7
        assert found[("streamguard_latency_ms_count", kind)] == 5
        assert total(found, "streamguard_model_info") == 2
        # The served models keep their caches: embeddings by description (fraud), scores by text.
        embeddings = (("cache", "embeddings"), ("kind", "fraud"))
        distinct = len({transaction_text(Transaction.model_validate(tx)) for tx in txs})
        assert found[("streamguard_model_cache_entries", embeddings)] == distinct
        assert found[("streamguard_model_cache_misses_total", embeddings)] == distinct
        scores = (("cache", "scores"), ("kind", "sentiment"))
        assert found[("streamguard_model_cache_entries", scores)] == len({t["text"] for t in texts})
        lags = {labels: v for (n, labels), v in found.items() if n == "streamguard_consumer_lag"}
        assert lags and all(v == 0 for v in lags.values()), lags  # every event read: nothing behind
        assert get(base + "nothing-here")[0] == 404
    finally:
        worker.stop()


async def test_two_workers_with_the_same_port_both_serve(broker: str, tmp_path: Path) -> None:
    topics = Topics()
    port = free_port_pair()
    env = worker_env(broker, topics, STREAMGUARD_WEB_PORT=str(port))
    first = WorkerProcess(env, tmp_path / "first.log")
    try:
        first_url = await served_url(first)
        second = WorkerProcess(env, tmp_path / "second.log")
        try:
            second_url = await served_url(second)
            assert {first_url, second_url} == {f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port + 1}/"}
            for worker, url in ((first, first_url), (second, second_url)):
                assert get(url + "healthz")[0] == 200
                await until_ready(worker, url)
                assert get(url + "metrics")[0] == 200
            assert "is taken; serving on" in second.log_path.read_text()
        finally:
            second.stop()
    finally:
        first.stop()
