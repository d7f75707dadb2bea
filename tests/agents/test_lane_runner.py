"""The worker's lane service: a lane that dies crashes the worker's service tree (so the process
exits non-zero and is restarted) instead of leaving it running with nothing scored."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import faust
import pytest

from agents.score_agents import ScoringWiring
from agents.web import Readiness
from agents.worker import LaneRunner
from pipeline.hotpath.lane import now_ms
from tests.agents.lane_stubs import Root, StubWiring

# A worker whose lane dies and whose shutdown then never finishes (the sleep stands in for a stop
# stuck in Faust or the broker client): the runner must end the process itself.
_STUCK_WORKER = """
import asyncio, logging
from concurrent.futures import ThreadPoolExecutor
from agents.web import Readiness
from agents.worker import LaneRunner
from pipeline.hotpath.lane import now_ms
from tests.agents.lane_stubs import Root, StubWiring

async def main() -> None:
    root = Root()
    wiring = StubWiring(ThreadPoolExecutor(max_workers=1))
    runner = LaneRunner([wiring], Readiness("lanes running"), exit_grace_s=0.5, beacon=root.beacon)
    await root.start()
    await runner.start()
    await wiring.lane.submit(1, now_ms())
    await asyncio.sleep(60)

logging.basicConfig()
asyncio.run(main())
"""


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()


async def test_a_dying_lane_crashes_the_service_tree_and_clears_readiness(
    executor: ThreadPoolExecutor,
) -> None:
    root = Root()
    wiring = StubWiring(executor)
    readiness = Readiness("lanes running")
    runner = LaneRunner(
        cast(Sequence[ScoringWiring[Any]], [wiring]), readiness, exit_grace_s=None, beacon=root.beacon
    )
    await root.start()
    await runner.start()
    try:
        await wiring.lane.submit(1, now_ms())
        await asyncio.wait_for(root.wait_until_stopped(), 5)  # returns on crash too
        assert root.crashed and runner.crashed
        assert repr(root.crash_reason) == repr(RuntimeError("onnxruntime fell over"))
        # /readyz says why (the app is not consulted while a condition is missing).
        assert readiness.check(cast(faust.App, None)) == (False, "waiting for: lanes running")
    finally:
        await runner.stop()
        await root.stop()


def test_a_worker_whose_stop_hangs_after_a_lane_failure_exits_hard_with_status_1() -> None:
    child = subprocess.run(
        [sys.executable, "-c", _STUCK_WORKER], capture_output=True, text=True, timeout=30, check=False
    )
    assert child.returncode == 1, child.stderr[-3000:]
    # Well before its sleep of 60 s ends (run's timeout would raise).
    assert "did not stop within 0.5 s of a lane failure; exiting with status 1" in child.stderr
