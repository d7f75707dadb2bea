"""End-to-end smoke against Apache Kafka (KRaft) in a container, via testcontainers' Kafka module.

The rest of the integration suite runs on the embedded Tansu broker; this checks that a worker
scores events on a real Apache Kafka broker too. It needs a reachable Docker engine and skips,
saying why, without one. testcontainers' KafkaContainer drives Confluent's image (Apache Kafka
3.9 in ``cp-kafka:7.9``); its start script does not fit the ``apache/kafka`` image of
docker-compose.yml.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.synthetic.transactions import generate_texts, generate_transactions
from tests.integration.docker import KAFKA_IMAGE, docker_unavailable
from tests.integration.kafka_helpers import produce_many
from tests.integration.web_helpers import served_url, until_ready
from tests.integration.workers import MODEL_DIR, Topics, WorkerProcess, collect, keyed, values, worker_env

_REASON = docker_unavailable()

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
    pytest.mark.skipif(_REASON is not None, reason=str(_REASON)),
]


@pytest.fixture(scope="module")
def apache_kafka() -> Iterator[str]:
    from testcontainers.community.kafka import KafkaContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


async def test_worker_scores_events_on_apache_kafka(apache_kafka: str, tmp_path: Path) -> None:
    topics = Topics()
    txs = [tx for tx, _ in generate_transactions(4, seed=5, fraud_rate=0.25)]
    texts = generate_texts(3, seed=5)
    # Apache Kafka's group coordinator is slower to settle than Tansu: a roomier session.
    env = worker_env(
        apache_kafka,
        topics,
        STREAMGUARD_WEB_PORT="0",
        STREAMGUARD_SESSION_TIMEOUT_S="10",
        STREAMGUARD_REBALANCE_TIMEOUT_S="20",
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        # The worker creates the topics, then joins the group: produce once it is ready.
        await until_ready(worker, await served_url(worker, timeout_s=120), timeout_s=120)
        await produce_many(apache_kafka, topics.transactions, [keyed(t) for t in txs])
        await produce_many(apache_kafka, topics.texts, [keyed(t) for t in texts])
        records = await collect(
            apache_kafka,
            [topics.scores_transactions, topics.scores_texts],
            lambda rs: len(rs) >= len(txs) + len(texts),
            timeout_s=120,
            alive=worker.assert_alive,
        )
        scored = values(records)
        assert {s["event_id"] for s in scored} == {t["event_id"] for t in [*txs, *texts]}
        assert all(0.0 <= float(str(s["score"])) <= 1.0 for s in scored)
    finally:
        worker.stop()
