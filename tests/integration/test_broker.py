"""The embedded Tansu broker: lifecycle, failure modes, topics, a produce/consume round trip."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.kafka.topics import delete_topics, ensure_topics, wait_for_broker
from pipeline.tooling import broker as broker_module
from pipeline.tooling.broker import BrokerError, EmbeddedBroker, tansu_binary

from .kafka_helpers import consume_all, produce_many

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_binary_is_found_and_executable() -> None:
    path = tansu_binary()
    assert path.name == "tansu"
    assert os.access(path, os.X_OK)


def test_start_stop_leaves_no_process(tmp_path: Path) -> None:
    embedded = EmbeddedBroker(port=0, log_path=tmp_path / "tansu.log")
    bootstrap = embedded.start()
    assert embedded.is_running()
    assert bootstrap == embedded.bootstrap
    assert bootstrap.startswith("127.0.0.1:") and not bootstrap.endswith(":0")
    pid = embedded._process.pid  # type: ignore[union-attr]
    assert os.getpgid(pid) == pid  # its own process group: Ctrl-C in a terminal does not hit it twice

    embedded.stop()
    assert not embedded.is_running()
    assert _wait_gone(pid, 1)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nothing left in its group either
    embedded.stop()  # idempotent
    assert "ready" in (tmp_path / "tansu.log").read_text()


def test_context_manager_starts_and_stops() -> None:
    with EmbeddedBroker(port=0) as embedded:
        assert embedded.is_running()
        pid = embedded._process.pid  # type: ignore[union-attr]
    assert not embedded.is_running()
    assert _wait_gone(pid, 1)


def test_busy_port_is_a_clear_non_retriable_error(broker: str) -> None:
    port = int(broker.rsplit(":", 1)[1])
    with pytest.raises(BrokerError) as raised:
        EmbeddedBroker(port=port).start()
    assert raised.value.retriable is False
    assert str(port) in str(raised.value) and "in use" in str(raised.value)


def test_broker_failing_to_bind_is_reported_with_its_log(
    broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Skip our pre-check so Tansu itself meets the busy port: it panics but exits with status 0,
    # and a TCP connect would reach the *other* broker. Start must still fail, with Tansu's log.
    monkeypatch.setattr(broker_module, "_port_is_free", lambda host, port: True)
    port = int(broker.rsplit(":", 1)[1])
    embedded = EmbeddedBroker(port=port)
    with pytest.raises(BrokerError) as raised:
        embedded.start()
    assert "AddrInUse" in str(raised.value)
    assert not embedded.is_running()


def test_broker_dies_with_its_parent_even_on_kill_9(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from pipeline.tooling.broker import EmbeddedBroker
        embedded = EmbeddedBroker(port=0)
        embedded.start()
        print(embedded._process.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2], text=True
    )
    try:
        assert parent.stdout is not None
        broker_pid = int(parent.stdout.readline())
        assert _alive(broker_pid)
        parent.send_signal(signal.SIGKILL)  # no atexit, no finally: only PR_SET_PDEATHSIG can help
        parent.wait(5)
        assert _wait_gone(broker_pid, 5), "broker outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


async def test_wait_for_broker_returns_for_a_live_broker_and_times_out_otherwise(broker: str) -> None:
    await wait_for_broker(broker, timeout_s=5)
    closed_port = broker_module._free_port("127.0.0.1")  # nothing listens there
    started = time.monotonic()
    with pytest.raises(BrokerError) as raised:
        await wait_for_broker(f"127.0.0.1:{closed_port}", timeout_s=0.5)
    assert raised.value.retriable is True
    assert time.monotonic() - started < 5


async def test_ensure_topics_is_idempotent(broker: str) -> None:
    names = [_unique("ensure-a"), _unique("ensure-b")]
    await ensure_topics(broker, names, partitions=3)
    await ensure_topics(broker, [*names, names[0]], partitions=3)  # again, with a duplicate

    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        assert set(names) <= set(await admin.list_topics())
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    assert [len(topic["partitions"]) for topic in described] == [3, 3]


async def test_delete_topics_removes_only_the_chosen_ones(broker: str) -> None:
    prefix = _unique("doomed")
    doomed, kept = [f"{prefix}.a", f"{prefix}-changelog"], _unique("kept")
    await ensure_topics(broker, [*doomed, kept], partitions=1)
    await produce_many(broker, doomed[0], [(b"k", b"v")])

    deleted = await delete_topics(broker, lambda name: name.startswith(prefix))

    assert sorted(deleted) == sorted(doomed)
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        remaining = set(await admin.list_topics())
    finally:
        await admin.close()
    assert kept in remaining and not remaining & set(doomed)
    assert await delete_topics(broker, lambda name: name.startswith(prefix)) == []


async def test_round_trip_keeps_keys_values_and_headers(broker: str) -> None:
    topic = _unique("round-trip")
    await ensure_topics(broker, [topic], partitions=2)
    messages = [(f"key-{i}".encode(), f"value-{i}".encode()) for i in range(50)]
    messages.append((None, b"no key"))
    headers = [("x-error-type", b"not_json"), ("x-source-topic", b"transactions")]

    await produce_many(broker, topic, messages, headers=headers)
    records = await consume_all(broker, topic, expected=len(messages), timeout_s=10)

    assert sorted((r.key, r.value) for r in records if r.key) == sorted(m for m in messages if m[0])
    assert [r.value for r in records if r.key is None] == [b"no key"]
    assert all(list(r.headers) == headers for r in records)
    by_key = {}
    for record in records:
        by_key.setdefault(record.key, set()).add(record.partition)
    assert all(len(partitions) == 1 for partitions in by_key.values())  # a key stays on one partition
