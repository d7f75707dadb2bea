"""Talking to a worker's HTTP server in integration tests: ports, URL, readiness, Prometheus samples."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.workers import WorkerProcess

URL_LINE = re.compile(r"metrics at (http://\S+/)metrics")


def free_port_pair() -> int:
    """A port P with P and P + 1 free right now."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no pair of free ports")


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        with err:
            return int(err.code), bytes(err.read())


async def served_url(worker: WorkerProcess, timeout_s: float = 60) -> str:
    """The base URL the worker logged it serves."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        worker.assert_alive()
        found = URL_LINE.search(worker.log_path.read_text(errors="replace"))
        if found:
            return found.group(1)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no metrics URL logged:\n{worker.log_path.read_text(errors='replace')[-3000:]}")


async def until_ready(
    worker: WorkerProcess, base: str, timeout_s: float = 60
) -> list[tuple[int, dict[str, object]]]:
    """Poll /readyz until 200; returns every answer seen."""
    seen: list[tuple[int, dict[str, object]]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        worker.assert_alive()
        status, body = await asyncio.to_thread(get, base + "readyz")
        seen.append((status, json.loads(body)))
        if status == 200:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"never ready: {seen[-3:]}")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in found.items() if n == name)
