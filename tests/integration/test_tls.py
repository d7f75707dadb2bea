"""TLS against the embedded broker: a CA and a server certificate made here, clients configured from
``Settings`` through ``pipeline.kafka.security``, and a real worker scoring an event over TLS."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from pipeline.kafka.security import aiokafka_security
from pipeline.kafka.topics import ensure_topics, wait_for_broker
from pipeline.settings import load_settings
from pipeline.synthetic.transactions import generate_texts
from pipeline.tooling.broker import BrokerError, EmbeddedBroker
from tests.integration.kafka_helpers import consume_all, produce_many
from tests.integration.workers import MODEL_DIR, Topics, WorkerProcess, collect, keyed, values, worker_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]


@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path  # trusted by nobody here: a client trusting only it must refuse the broker
    cert: Path
    key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
             "-keyout", key, "-out", cert)  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, ca_key = _make_ca(directory, "streamguard-test-ca")
    other_ca, _ = _make_ca(directory, "unrelated-ca")
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key, "-out", csr)
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "1",
             "-extfile", extensions, "-out", cert)  # fmt: skip
    return Pki(ca=ca, other_ca=other_ca, cert=cert, key=key)


@pytest.fixture(scope="module")
def tls_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("tls-broker") / "tansu.log"
    embedded = EmbeddedBroker(port=0, log_path=log_path, cert_path=pki.cert, key_path=pki.key)
    bootstrap = embedded.start()
    try:
        yield bootstrap
    finally:
        embedded.stop()


async def test_produce_and_consume_over_tls_with_hostname_check(tls_broker: str, pki: Pki) -> None:
    settings = load_settings(security_protocol="SSL", ssl_cafile=pki.ca)  # check_hostname stays on
    security = aiokafka_security(settings)
    topic = Topics().texts
    await ensure_topics(tls_broker, [topic], partitions=1, security=security)

    await produce_many(tls_broker, topic, [(b"k1", b"over tls")], security=security)
    records = await consume_all(tls_broker, topic, expected=1, timeout_s=10, security=security)

    assert [(r.key, r.value) for r in records] == [(b"k1", b"over tls")]


async def test_a_plaintext_client_cannot_talk_to_the_tls_broker(tls_broker: str) -> None:
    with pytest.raises(BrokerError, match="no Kafka broker answered"):
        await wait_for_broker(tls_broker, timeout_s=1)
    producer = AIOKafkaProducer(bootstrap_servers=tls_broker, request_timeout_ms=2000)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


async def test_a_client_not_trusting_the_broker_ca_is_refused(tls_broker: str, pki: Pki) -> None:
    settings = load_settings(security_protocol="SSL", ssl_cafile=pki.other_ca)
    with pytest.raises(BrokerError, match="no Kafka broker answered"):
        await wait_for_broker(tls_broker, timeout_s=1, security=aiokafka_security(settings))


@pytest.mark.skipif(not (MODEL_DIR / "sentiment").exists(), reason="models not built: run `make models`")
async def test_a_worker_scores_a_text_over_tls(tls_broker: str, pki: Pki, tmp_path: Path) -> None:
    topics = Topics()
    env = worker_env(
        tls_broker, topics, STREAMGUARD_SECURITY_PROTOCOL="SSL", STREAMGUARD_SSL_CAFILE=str(pki.ca)
    )
    security = aiokafka_security(load_settings(security_protocol="SSL", ssl_cafile=pki.ca))
    text = generate_texts(1, seed=5)[0]
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        await wait_for_broker(tls_broker, timeout_s=10, security=security)
        await produce_many(
            tls_broker,
            topics.texts,
            [keyed(text)],
            security=security,
        )
        records = await collect(
            tls_broker,
            [topics.scores_texts],
            lambda rs: len(rs) >= 1,
            timeout_s=90,
            settle_s=0,
            alive=worker.assert_alive,
            security=security,
        )
    finally:
        code = worker.stop()
    assert [score["event_id"] for score in values(records)] == [text["event_id"]], worker.log_path.read_text()
    assert code == 0


def test_a_certificate_without_its_key_is_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="go together"):
        EmbeddedBroker(port=0, cert_path=pki.cert)
