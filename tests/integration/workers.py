"""Real worker processes for integration tests, and a collector that reads topics from the start."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from pipeline.tooling.supervise import stop_all

REPO = Path(__file__).resolve().parents[2]
# `make chaos` sets STREAMGUARD_CHAOS=1: the robustness tests run their long versions.
CHAOS = os.environ.get("STREAMGUARD_CHAOS", "") not in ("", "0")
# The models `make test` builds; STREAMGUARD_MODEL_DIR points elsewhere (e.g. a smoke build).
MODEL_DIR = Path(os.environ.get("STREAMGUARD_MODEL_DIR", REPO / "models")).resolve()
# Partitions of the topics a test worker creates (STREAMGUARD_PARTITIONS).
WORKER_PARTITIONS = 2


@dataclass(frozen=True)
class Topics:
    """A private set of topic names, so tests never see each other's records."""

    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")

    def env(self) -> dict[str, str]:
        names = {
            "TRANSACTIONS": "transactions",
            "TEXTS": "texts",
            "SCORES_TRANSACTIONS": "scores.transactions",
            "SCORES_TEXTS": "scores.texts",
            "ALERTS_FRAUD": "alerts.fraud",
            "ALERTS_SENTIMENT": "alerts.sentiment",
            "DEADLETTER": "deadletter",
        }
        return {f"STREAMGUARD_TOPIC_{var}": f"{self.prefix}.{name}" for var, name in names.items()}

    def __getattr__(self, name: str) -> str:
        return f"{self.prefix}.{name.replace('_', '.')}"


def keyed(event: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """(key, value) as producers send an event: key = event_id, value = JSON."""
    return str(event["event_id"]).encode(), orjson.dumps(event)


def worker_env(bootstrap: str, topics: Topics, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        **topics.env(),
        "STREAMGUARD_BOOTSTRAP": bootstrap,
        "STREAMGUARD_APP_ID": f"sg-{topics.prefix}",
        "STREAMGUARD_MODEL_DIR": str(MODEL_DIR),
        "STREAMGUARD_PARTITIONS": str(WORKER_PARTITIONS),
        # Short group timeouts: a worker is ready in ~3 s and a killed one is evicted in ~2 s.
        "STREAMGUARD_SESSION_TIMEOUT_S": "2",
        "STREAMGUARD_HEARTBEAT_INTERVAL_S": "0.3",
        "STREAMGUARD_REBALANCE_TIMEOUT_S": "4",
        **extra,
    }


class WorkerProcess:
    """``streamguard worker`` in a child process, its output kept in a log file."""

    def __init__(
        self, env: dict[str, str], log_path: Path, module: tuple[str, ...] = ("pipeline.cli", "worker")
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *module],
            env=env,
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: no chance to flush, commit or say goodbye."""
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def stop(self, timeout_s: float = 20) -> int:
        stop_all([self.proc], timeout_s)  # SIGINT, then SIGKILL after timeout_s
        self._log.close()
        return self.proc.returncode

    def wait_for_exit(self, timeout_s: float) -> int:
        """The exit status; if the worker is still running after ``timeout_s``, fail with its log."""
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            tail = self.log_tail()
            raise AssertionError(f"worker still running after {timeout_s:.0f} s:\n{tail}") from None

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail(3000)}")


async def assign_from_start(
    consumer: AIOKafkaConsumer, topics: Iterable[str], *, alive: Callable[[], None], tries: int | None = None
) -> None:
    """Assign every partition of ``topics`` to ``consumer`` and seek to their beginning. Topics appear
    once the worker has created them, so each is looked up again (``alive()`` between looks) until
    found, or ``tries`` times; a topic still missing then is left out."""
    partitions = []
    for topic in topics:
        looks = 0
        while not (found := consumer.partitions_for_topic(topic)) and (tries is None or looks < tries):
            alive()
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.2)
            looks += 1
        partitions += [TopicPartition(topic, p) for p in sorted(found or ())]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)


async def collect(
    bootstrap: str,
    topics: Iterable[str],
    done: Callable[[list[ConsumerRecord]], bool],
    *,
    timeout_s: float,
    settle_s: float = 1.0,
    alive: Callable[[], None] = lambda: None,
    security: Mapping[str, Any] | None = None,
) -> list[ConsumerRecord]:
    """Read ``topics`` from the beginning until ``done(records)``, then ``settle_s`` more (to catch
    extra records), or until ``timeout_s``. No consumer group: nothing of ours is committed."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50, **(security or {})
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        await assign_from_start(consumer, topics, alive=lambda: None, tries=50)
        deadline = time.monotonic() + timeout_s
        settled_at: float | None = None
        while time.monotonic() < deadline:
            alive()
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
            if settled_at is None and done(records):
                settled_at = time.monotonic() + settle_s
            if settled_at is not None and time.monotonic() >= settled_at:
                break
    finally:
        await consumer.stop()
    return records


def values(records: Iterable[ConsumerRecord]) -> list[dict[str, object]]:
    return [orjson.loads(r.value) for r in records]


class ScoredIds:
    """``collect`` predicate: done once every expected event_id has a score. Parses each record
    once (the predicate is called on the growing list at every poll)."""

    def __init__(self, expected: set[str]) -> None:
        self.expected = expected
        self.counts: Counter[str] = Counter()
        self._seen = 0

    def __call__(self, records: list[ConsumerRecord]) -> bool:
        for record in records[self._seen :]:
            self.counts[str(orjson.loads(record.value)["event_id"])] += 1
        self._seen = len(records)
        return self.expected <= set(self.counts)


async def scores_until_complete(
    bootstrap: str, topics: list[str], expected: set[str], worker: WorkerProcess, label: str
) -> Counter[str]:
    """Read score topics until every expected event is scored (then 1 s more); print and return how
    often each event_id was scored, so lost and duplicated events can be asserted."""
    scored = ScoredIds(expected)
    records = await collect(bootstrap, topics, scored, timeout_s=900, settle_s=1.0, alive=worker.assert_alive)
    scored(records)  # also count the records that arrived while settling
    lost = len(expected - set(scored.counts))
    duplicates = sum(scored.counts.values()) - len(scored.counts)
    print(f"\n{label}: {len(expected)} events, {lost} lost, {duplicates} duplicates (at-least-once)")
    return scored.counts


async def restart_scores_every_event(
    bootstrap: str, topics: Topics, score_topics: list[str], expected: set[str], log_path: Path, label: str
) -> None:
    """Start a fresh worker on ``topics`` and assert that every id in ``expected`` ends up scored
    (nothing lost; duplicates are allowed: at-least-once)."""
    worker = WorkerProcess(worker_env(bootstrap, topics), log_path)
    try:
        ids = await scores_until_complete(bootstrap, score_topics, expected, worker, label)
    finally:
        worker.stop()
    missing = sorted(expected - set(ids))
    # The restarted worker's log says where it stood (joined? recovered? consuming?).
    assert not missing, f"{len(missing)} unscored, first {missing[:5]}:\n{worker.log_tail()}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")
