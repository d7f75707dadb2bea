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

from pipeline.bench.results import CONTRACT_ROW_KEYS
from pipeline.bench.systems import SYSTEMS
from tests.integration.workers import MODEL_DIR, REPO

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
