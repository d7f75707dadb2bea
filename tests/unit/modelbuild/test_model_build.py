from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline.hotpath.artefacts import ARTEFACTS, GPU_MODEL_FILE, HEAD_FILE, KINDS, is_built, model_path
from pipeline.modelbuild.build import build_models
from tests.unit.modelbuild import smoke


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return smoke.smoke_model_dir(tmp_path_factory)


@pytest.mark.slow
def test_smoke_build_writes_every_artefact(smoke_dir: Path) -> None:
    for kind in KINDS:
        path = model_path(smoke_dir, kind)
        assert is_built(smoke_dir, kind)
        # A model with features also ships its head apart, for the embedding cache; the fraud build
        # writes its GPU graph (the smoke sentiment model is the frozen-encoder head build: none).
        expected = [*ARTEFACTS, HEAD_FILE, GPU_MODEL_FILE] if kind == "fraud" else ARTEFACTS
        assert sorted(p.name for p in path.iterdir()) == sorted(expected)
    assert not list(smoke_dir.glob(".build-*")), "the temporary build directory is removed"


@pytest.mark.slow
def test_meta_describes_the_model(smoke_dir: Path) -> None:
    sentiment = json.loads((smoke_dir / "sentiment" / "meta.json").read_text())
    fraud = json.loads((smoke_dir / "fraud" / "meta.json").read_text())
    assert sentiment["labels"] == ["negative", "neutral", "positive"]
    assert fraud["labels"] == ["legit", "fraud"] and len(fraud["feature_names"]) > 10
    for meta in (sentiment, fraud):
        assert meta["version"].startswith("0.1.0+") and meta["max_tokens"] == 128
        assert meta["created"] and meta["build_seconds"] > 0 and meta["smoke"] is True
        assert meta["serving_parity"]["served_vs_head_max_abs_diff"] < 1e-4
    assert {"accuracy", "macro_f1"} <= set(sentiment["metrics"]["test"])
    assert {"roc_auc", "precision", "recall"} <= set(fraud["metrics"]["test"])
    card = (smoke_dir / "fraud" / "MODEL_CARD.md").read_text()
    assert "synthetic" in card and "Apache-2.0" in card


@pytest.mark.slow
def test_smoke_build_is_fast_enough() -> None:
    # Measured when the shared build ran; 0 if another module built it first in this session.
    assert smoke.build_seconds < 90


@pytest.mark.slow
def test_existing_models_are_not_rebuilt(smoke_dir: Path) -> None:
    before = {kind: (smoke_dir / kind / "model.onnx").stat().st_mtime_ns for kind in KINDS}
    started = time.perf_counter()
    metas = build_models(smoke_dir, smoke=True, progress=False)
    assert time.perf_counter() - started < 2
    assert set(metas) == set(KINDS)
    assert {kind: (smoke_dir / kind / "model.onnx").stat().st_mtime_ns for kind in KINDS} == before
