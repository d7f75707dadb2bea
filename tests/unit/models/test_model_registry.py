from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import StreamGuardError
from pipeline.models.registry import ARTEFACTS, ModelNotBuiltError, is_built, model_path, read_meta


def fake_model(root: Path, kind: str, meta: object) -> Path:
    path = model_path(root, kind)
    path.mkdir(parents=True)
    for name in ARTEFACTS:
        (path / name).write_text("x")
    (path / "meta.json").write_text(json.dumps(meta))
    return path


def test_model_path_layout(tmp_path: Path) -> None:
    assert model_path(tmp_path, "fraud") == tmp_path / "fraud"
    with pytest.raises(ValueError, match="unknown model kind"):
        model_path(tmp_path, "spam")


def test_is_built_needs_every_artefact_and_matching_meta(tmp_path: Path) -> None:
    assert not is_built(tmp_path, "sentiment")
    path = fake_model(tmp_path, "sentiment", {"kind": "sentiment", "labels": ["negative"]})
    assert is_built(tmp_path, "sentiment")
    (path / "token_weights.json").unlink()
    assert not is_built(tmp_path, "sentiment")
    fake_model(tmp_path, "fraud", {"kind": "sentiment", "labels": ["x"]})
    assert not is_built(tmp_path, "fraud")


def test_read_meta_errors_are_not_retriable(tmp_path: Path) -> None:
    path = fake_model(tmp_path, "fraud", {"kind": "fraud", "labels": ["legit", "fraud"]})
    (path / "meta.json").write_text("{broken")
    with pytest.raises(ModelNotBuiltError) as info:
        read_meta(path)
    assert isinstance(info.value, StreamGuardError) and not info.value.retriable
