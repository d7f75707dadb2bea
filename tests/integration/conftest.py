"""A real broker for the whole integration session, started only when a test asks for it.

The embedded Tansu broker by default; ``STREAMGUARD_TEST_BROKER=apache-kafka`` runs the same suite
against Apache Kafka in a container (testcontainers), and skips it, saying why, without Docker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pipeline.tooling.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap string ("host:port") of the session's broker."""
    if os.environ.get("STREAMGUARD_TEST_BROKER") == "apache-kafka":
        yield from _apache_kafka()
        return
    log_path = tmp_path_factory.mktemp("broker") / "tansu.log"
    embedded = EmbeddedBroker(port=0, log_path=log_path)
    bootstrap = embedded.start()
    try:
        yield bootstrap
    finally:
        embedded.stop()


def _apache_kafka() -> Iterator[str]:
    from tests.integration.docker import KAFKA_IMAGE, docker_unavailable

    reason = docker_unavailable()
    if reason is not None:
        pytest.skip(f"STREAMGUARD_TEST_BROKER=apache-kafka: {reason}")
    from testcontainers.community.kafka import KafkaContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka:
        yield kafka.get_bootstrap_server()
