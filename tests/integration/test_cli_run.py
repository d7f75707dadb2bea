"""``streamguard run``: uses STREAMGUARD_BOOTSTRAP when set, else starts the embedded broker; Ctrl-C
(SIGINT) stops every process it started."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from pipeline.kafka.topics import wait_for_broker
from pipeline.synthetic.transactions import generate_texts
from tests.integration.kafka_helpers import produce_many
from tests.integration.workers import MODEL_DIR, REPO, Topics, collect, values, worker_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "sentiment").exists(), reason="models not built: run `make models`"),
]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    found: set[int] = set()
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def commands(pids: set[int]) -> list[bytes]:
    return [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids if alive(pid)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_run(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "run", "--no-demo"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_and_check_no_orphans(proc: subprocess.Popen[bytes], started: set[int], log: Path) -> None:
    proc.send_signal(signal.SIGINT)
    code = proc.wait(30)
    assert code == 0, log.read_text(errors="replace")[-3000:]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in started):
        time.sleep(0.1)
    assert not [pid for pid in started if alive(pid)], "processes outlived `streamguard run`"


async def score_one_text(bootstrap: str, topics: Topics, proc: subprocess.Popen[bytes], log: Path) -> None:
    await wait_for_broker(bootstrap, timeout_s=60)  # an embedded broker starts after the model check
    text = generate_texts(1, seed=4)[0]
    await produce_many(bootstrap, topics.texts, [(text["event_id"].encode(), orjson.dumps(text))])

    def running() -> None:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]

    records = await collect(
        bootstrap, [topics.scores_texts], lambda rs: len(rs) >= 1, timeout_s=90, settle_s=0, alive=running
    )
    assert [v["event_id"] for v in values(records)] == [text["event_id"]]


async def test_run_uses_the_configured_broker_and_stops_cleanly(broker: str, tmp_path: Path) -> None:
    topics = Topics()
    env = worker_env(broker, topics)
    log = tmp_path / "run.log"
    proc = start_run(env, log)
    try:
        await score_one_text(broker, topics, proc, log)
        started = descendants(proc.pid)
        assert started, "run should have started a worker"
        # No embedded broker: every child is a StreamGuard Python process, none is tansu.
        assert not any(b"tansu" in cmd for cmd in commands(started))
    finally:
        stop_and_check_no_orphans(proc, descendants(proc.pid) | {proc.pid}, log)


async def test_run_without_bootstrap_starts_and_stops_the_embedded_broker(tmp_path: Path) -> None:
    topics = Topics()
    port = free_port()
    env = worker_env("unused", topics, STREAMGUARD_BROKER_PORT=str(port))
    del env["STREAMGUARD_BOOTSTRAP"]
    log = tmp_path / "run.log"
    proc = start_run(env, log)
    bootstrap = f"127.0.0.1:{port}"
    try:
        await score_one_text(bootstrap, topics, proc, log)
        started = descendants(proc.pid)
        assert any(b"tansu" in cmd for cmd in commands(started)), (
            "the embedded broker should be a child of run"
        )
    finally:
        stop_and_check_no_orphans(proc, descendants(proc.pid) | {proc.pid}, log)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # the broker's port is closed again
