"""bench.systems: a system's child process finds the bench package wherever the bench was started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.systems import child_env, system_spec
from pipeline.settings import Settings


def test_a_child_imports_bench_from_the_checkout_outside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)  # as `streamguard bench` from an installed script
    spec = system_spec("relay")
    env = child_env(Settings(), "localhost:9092", spec)
    done = subprocess.run(
        [sys.executable, "-c", f"import {spec.module}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
