"""The systems under test, each a child process consuming our input topics and publishing scores.

- ``streamguard``: the real worker (``streamguard worker``), settings as configured, caches off
  (``STREAMGUARD_MODEL_CACHE_SIZE=0``): every event runs through its model, as in the model floor
  it is compared with. The headline row.
- ``streamguard_cached``: the same worker with its caches on (sentiment scores and fraud
  embeddings by text, the worker's default size): what the load generator's repeated texts buy.
- ``per_event_onnx``: the same worker (caches off) with ``STREAMGUARD_MAX_BATCH=1`` (int8 model,
  batch of one, our consumer settings): what batching alone buys.
- ``fixed_window``: the same worker (caches off) with Triton/Morpheus-style batching
  (``bench.fixed_window``).
- ``naive``: a plain Faust app, torch eager per event, Faust's defaults (``bench.naive_app``).
- ``naive_tuned``: the same app with the worker's fetch wait and torch threads
  (``naive_app --tuned``): the fair baseline for "N times the naive throughput".
- ``relay`` and ``model_relay`` (only when asked for): raw aiokafka handing every event straight
  back, without and with its model (caches off) (``bench.relay``): floors at a rate.

Every run gets its own topic names and consumer group, so systems never see each other's records.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pipeline.settings import Settings
from pipeline.tooling.supervise import stop_all

SYSTEMS = ("streamguard", "streamguard_cached", "per_event_onnx", "fixed_window", "naive", "naive_tuned")
# Run only when named (``--systems``): not one of the systems, so not in the default run.
OPTIONAL_SYSTEMS = ("relay", "model_relay")
KNOWN_SYSTEMS = SYSTEMS + OPTIONAL_SYSTEMS

_TOPIC_FIELDS = {
    "topic_transactions": "TRANSACTIONS",
    "topic_texts": "TEXTS",
    "topic_scores_transactions": "SCORES_TRANSACTIONS",
    "topic_scores_texts": "SCORES_TEXTS",
    "topic_alerts_fraud": "ALERTS_FRAUD",
    "topic_alerts_sentiment": "ALERTS_SENTIMENT",
    "topic_deadletter": "DEADLETTER",
}
# Short group timeouts so a worker is ready in ~3 s; they do not touch the steady-state path.
_FAST_JOIN = {
    "STREAMGUARD_SESSION_TIMEOUT_S": "2",
    "STREAMGUARD_HEARTBEAT_INTERVAL_S": "0.3",
    "STREAMGUARD_REBALANCE_TIMEOUT_S": "4",
}
# The model floor runs every event through its model; so do the systems compared with it.
_NO_CACHE = {"STREAMGUARD_MODEL_CACHE_SIZE": "0"}
# The cached row keeps the worker's default caches unless ``--env`` sets a size.
_CACHE = {"STREAMGUARD_MODEL_CACHE_SIZE": str(Settings.model_fields["model_cache_size"].default)}


@dataclass(frozen=True)
class SystemSpec:
    name: str
    module: str  # run as ``python -m module [args]``
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


def system_spec(name: str, extra_env: Mapping[str, str] | None = None) -> SystemSpec:
    """The spec of a system; ``extra_env`` (lever experiments) applies to every system, except
    that the cache setting a system is defined by wins over it."""
    extra = dict(extra_env or {})
    if name == "streamguard":
        return SystemSpec(name, "pipeline.cli", ("worker",), {**extra, **_NO_CACHE})
    if name == "streamguard_cached":
        return SystemSpec(name, "pipeline.cli", ("worker",), {**_CACHE, **extra})
    if name == "per_event_onnx":
        env = {**extra, **_NO_CACHE, "STREAMGUARD_MAX_BATCH": "1"}
        return SystemSpec(name, "pipeline.cli", ("worker",), env)
    if name == "fixed_window":
        return SystemSpec(name, "bench.fixed_window", (), {**extra, **_NO_CACHE})
    if name == "naive":
        return SystemSpec(name, "bench.naive_app", (), extra)
    if name == "naive_tuned":
        return SystemSpec(name, "bench.naive_app", ("--tuned",), extra)
    if name == "relay":
        return SystemSpec(name, "bench.relay", (), extra)
    if name == "model_relay":
        return SystemSpec(name, "bench.relay", ("--model",), {**extra, **_NO_CACHE})
    raise ValueError(f"unknown system {name!r}; choose from {', '.join(KNOWN_SYSTEMS)}")


def private_settings(settings: Settings, system: str) -> Settings:
    """``settings`` with topic names and group id of our own (``bench-<system>-<random>.*``)."""
    prefix = f"bench-{system.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    update: dict[str, object] = {name: f"{prefix}.{getattr(settings, name)}" for name in _TOPIC_FIELDS}
    update["app_id"] = prefix
    return settings.model_copy(update=update)


def child_env(settings: Settings, bootstrap: str, spec: SystemSpec) -> dict[str, str]:
    env = {**os.environ, **_FAST_JOIN}
    env.update({f"STREAMGUARD_TOPIC_{var}": getattr(settings, name) for name, var in _TOPIC_FIELDS.items()})
    env.update(
        {
            "STREAMGUARD_BOOTSTRAP": bootstrap,
            "STREAMGUARD_APP_ID": settings.app_id,
            "STREAMGUARD_MODEL_DIR": str(Path(settings.model_dir).resolve()),
            "STREAMGUARD_PARTITIONS": str(settings.partitions),
            "STREAMGUARD_LOG_LEVEL": "warning",
        }
    )
    # bench/ is not in the installed package: a `python -m bench.relay` child finds it through the
    # checkout it came from, whatever directory `streamguard bench` was started in.
    checkout = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (checkout, env.get("PYTHONPATH", "")) if p)
    env.update(spec.env)
    return env


class ChildProcess:
    """A system's process, its output in ``log_path``; stopped with SIGINT, then SIGKILL."""

    def __init__(self, spec: SystemSpec, env: Mapping[str, str], log_path: Path) -> None:
        self.spec = spec
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", spec.module, *spec.args],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.spec.name} exited with {self.proc.returncode}:\n{tail}")

    def stop(self, timeout_s: float = 15) -> None:
        stop_all([self.proc], timeout_s)
        self._log.close()
