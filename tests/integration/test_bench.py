"""``streamguard bench`` end to end: every system on the embedded broker, the JSON contract.

A smaller configuration than ``--quick`` (one rate, 2 s) keeps CI short; ``--quick`` itself is the
same code with more rates. No timing is asserted: the figures are the benchmark's output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bench.results import CONTRACT_ROW_KEYS
from bench.schedule import event_mix
from bench.systems import SYSTEMS
from pipeline.kafka.topics import ensure_topics
from tests.integration.kafka_helpers import produce_many
from tests.integration.workers import (
    MODEL_DIR,
    REPO,
    ScoredIds,
    Topics,
    WorkerProcess,
    collect,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def test_bench_quick_writes_the_contract(tmp_path: Path) -> None:
    json_path = tmp_path / "bench.json"
    out_dir = tmp_path / "results"
    env = {**os.environ, "STREAMGUARD_MODEL_DIR": str(MODEL_DIR)}
    env.pop("STREAMGUARD_BOOTSTRAP", None)  # the bench starts its own embedded broker
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "bench",
            "--quick",
            "--rates",
            "20",
            "--duration",
            "2",
            "--json",
            str(json_path),
            "--out",
            str(out_dir),
            "--no-progress",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| streamguard | 20 |" in completed.stdout

    document = orjson.loads(json_path.read_bytes())
    assert {row["system"] for row in document["results"]} == set(SYSTEMS)
    for row in document["results"]:
        assert set(CONTRACT_ROW_KEYS) <= set(row), row
        assert row["rate"] == 20
        assert row["received"] > 0 and row["throughput"] > 0
        assert 0 < row["p50"] <= row["p95"] <= row["p99"] <= row["p999"]
        assert 0 <= row["sla_miss_pct"] <= 100
    assert document["broker_floor_p99"] > 0
    assert set(document["model_floor"]) == {"1", "2", "4", "8", "16", "32", "64"}
    for floor in document["model_floor"].values():
        assert 0 < floor["p50"] <= floor["p99"] and floor["throughput"] > 0
    assert (out_dir / "results.md").is_file() and (out_dir / "results.json").is_file()


@pytest.mark.parametrize("args", [(), ("--model",)], ids=["relay", "model_relay"])
async def test_the_relay_hands_every_event_back_on_the_score_topics(
    broker: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    topics = Topics()
    await ensure_topics(
        broker, (topics.transactions, topics.texts, topics.scores_transactions, topics.scores_texts), 2
    )
    events = event_mix(12, seed=3, run_id="relay")
    relay = WorkerProcess(worker_env(broker, topics), tmp_path / "relay.log", module=("bench.relay", *args))
    try:
        # Transactions keyed by account, as the bench and producers send them: scores come back by
        # event id.
        for kind, topic in (("transaction", topics.transactions), ("text", topics.texts)):
            await produce_many(broker, topic, [(e.key, e.value) for e in events if e.kind == kind])
        expected = {event.event_id for event in events}
        scored = ScoredIds(expected)
        records = await collect(
            broker,
            [topics.scores_transactions, topics.scores_texts],
            scored,
            timeout_s=60,
            alive=relay.assert_alive,
        )
    finally:
        relay.stop()
    kinds = {event.event_id: event.kind for event in events}
    assert {"transaction", "text"} == set(kinds.values())
    assert {record.key.decode() for record in records if record.key} == expected
    for record in records:
        kind = kinds[record.key.decode()]
        assert record.topic == (topics.scores_transactions if kind == "transaction" else topics.scores_texts)
        stamps = orjson.loads(record.value)["timestamps"]
        assert 0 < stamps["ingested"] <= stamps["published"]
