"""One smoke build per test session, shared by every test module that needs built models."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

_built: Path | None = None
build_seconds: float = 0.0


def smoke_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    global _built, build_seconds
    if _built is None:
        from pipeline.modelbuild.build import build_models

        target = tmp_path_factory.mktemp("smoke-models")
        started = time.perf_counter()
        build_models(target, smoke=True, progress=False)
        build_seconds = time.perf_counter() - started
        _built = target
    return _built


REPO_MODELS = Path(__file__).resolve().parents[3] / "models"
