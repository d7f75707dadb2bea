"""What each install really brings, resolved by pip's own resolver, and the worker without a runtime.

The serving dependencies carry no ONNX Runtime: the extra ``cpu`` brings ``onnxruntime``, ``gpu``
brings ``onnxruntime-gpu``; neither brings the other, torch or transformers. Resolution reads package
metadata from the configured index (PyPI): nothing is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TRAINING_ONLY = {"torch", "transformers", "onnx"}


def resolved(requirement: str, tmp_path: Path) -> set[str]:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", str(report), requirement],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    installs = json.loads(report.read_text())["install"]
    return {str(item["metadata"]["name"]).lower().replace("_", "-") for item in installs}


@pytest.mark.parametrize(
    ("requirement", "runtime", "never"),
    [
        (".[gpu]", {"onnxruntime-gpu"}, {"onnxruntime"}),
        (".[cpu]", {"onnxruntime"}, {"onnxruntime-gpu"}),
        (".", set(), {"onnxruntime", "onnxruntime-gpu"}),
    ],
)
def test_each_extra_resolves_to_one_onnx_runtime_and_no_training_stack(
    requirement: str, runtime: set[str], never: set[str], tmp_path: Path
) -> None:
    names = resolved(requirement, tmp_path)
    assert {"streamguard", "tokenizers", "faust-streaming"} <= names
    assert runtime <= names
    assert not names & (never | TRAINING_ONLY), sorted(names & (never | TRAINING_ONLY))


def test_the_worker_without_an_onnx_runtime_stops_with_one_line_naming_the_extras() -> None:
    # ``None`` in sys.modules makes ``import onnxruntime`` fail as it does when neither is installed.
    code = (
        "import sys; sys.modules['onnxruntime'] = None; "
        "from pipeline.cli import main; sys.exit(main(['worker']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "STREAMGUARD_BOOTSTRAP": "127.0.0.1:1"},
    )  # fmt: skip
    assert done.returncode == 2  # not retriable: a restart alone will not install it
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "streamguard[cpu]" in lines[0] and "streamguard[gpu]" in lines[0]


def test_make_run_installs_the_serving_extra_only_and_make_test_adds_training() -> None:
    def commands(target: str) -> str:
        done = subprocess.run(
            ["make", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout

    run = commands("run")
    assert '-e ".[cpu]"' in run and "streamguard run" in run
    assert "build" not in run.replace("streamguard run", "") and "models build" not in run
    test = commands("test")
    assert '-e ".[cpu,build,dev,bench]"' in test and "pytest" in test
