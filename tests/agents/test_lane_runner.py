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

# A worker process whose lane dies by the error its argv names; it would otherwise sleep for a
# minute: only the runner can end it early.
_DYING_WORKER = """
import asyncio, logging, sys
from concurrent.futures import ThreadPoolExecutor
from agents.web import Readiness
from agents.worker import LaneRunner
from pipeline.errors import PublishError
from pipeline.hotpath.lane import now_ms
from tests.agents.lane_stubs import Root, StubWiring

ERRORS = {
    "bug": RuntimeError("onnxruntime fell over"),
    "undeliverable": PublishError("the broker refused the record", retriable=False),
    "broker-down": PublishError("the broker did not answer", retriable=True),
}

async def main() -> None:
    root = Root()
    wiring = StubWiring(ThreadPoolExecutor(max_workers=1), ERRORS[sys.argv[1]])
    runner = LaneRunner([wiring], Readiness("lanes running"), beacon=root.beacon)
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
        cast(Sequence[ScoringWiring[Any]], [wiring]), readiness, exit_on_failure=False, beacon=root.beacon
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


@pytest.mark.parametrize(
    ("error", "status"),
    [("bug", 1), ("broker-down", 1), ("undeliverable", 2)],
)
def test_a_worker_whose_lane_dies_exits_at_once_with_the_status_that_says_whether_to_restart(
    error: str, status: int
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _DYING_WORKER, error],
        capture_output=True,
        text=True,
        timeout=30,  # far below the child's own minute of sleep
        check=False,
    )
    assert child.returncode == status, child.stderr[-3000:]
    assert f"exiting with status {status}" in child.stderr
