"""pipeline.cli: the models and bench tools parse their own flags; bench runs only from a checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli

REPO = Path(__file__).resolve().parents[2]


def test_bench_flags_are_parsed_by_the_bench_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["bench", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: streamguard bench") and "--quick" in out and "--systems" in out


def test_a_command_without_its_own_parser_rejects_unknown_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["worker", "--quick"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --quick" in capsys.readouterr().err


def test_bench_says_so_when_the_bench_package_is_absent(tmp_path: Path) -> None:
    # An installed wheel: the product packages without bench/ beside them.
    for package in ("pipeline", "agents", "schemas"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", "import sys, pipeline.cli; sys.exit(pipeline.cli.main(['bench', '--quick']))"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "streamguard bench runs from a source checkout" in done.stderr
