"""``python -m pipeline.modelbuild rescore fraud``: the shifted set re-measured, nothing else touched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.hotpath.artefacts import META_FILE, MODEL_CARD_FILE, MODEL_FILE, model_path, read_meta
from pipeline.modelbuild.rescore import rescore_shifted
from tests.unit.modelbuild import smoke


@pytest.fixture
def fraud_copy(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    built = model_path(smoke.smoke_model_dir(tmp_path_factory), "fraud")
    shutil.copytree(built, model_path(tmp_path, "fraud"))
    return tmp_path


def test_rescore_rewrites_only_the_shifted_figures_and_says_so(fraud_copy: Path) -> None:
    path = model_path(fraud_copy, "fraud")
    before, graph = read_meta(path), (path / MODEL_FILE).read_bytes()
    # As if the generator had changed since the build: the old figure must be replaced, not kept.
    before["metrics"]["test_shifted"]["roc_auc"] = -1.0
    (path / META_FILE).write_text(json.dumps(before), encoding="utf-8")

    after = rescore_shifted(fraud_copy)

    assert (path / MODEL_FILE).read_bytes() == graph
    assert read_meta(path) == after
    shifted = after["metrics"]["test_shifted"]
    assert (
        0.0 <= shifted["roc_auc"] <= 1.0 and shifted["n"] == before["build_config"]["fraud"]["shifted_rows"]
    )
    assert after["rescored"]["before"]["roc_auc"] == -1.0 and after["rescored"]["splits"] == ["test_shifted"]
    unchanged = {k: v for k, v in before["metrics"].items() if k != "test_shifted"}
    assert {k: v for k, v in after["metrics"].items() if k != "test_shifted"} == unchanged
    card = (path / MODEL_CARD_FILE).read_text(encoding="utf-8")
    assert "Re-scored" in card and "python -m pipeline.modelbuild rescore fraud" in card
    assert f"| test_shifted | {shifted['roc_auc']} |" in card
