from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import StreamGuardError
from pipeline.hotpath.artefacts import ARTEFACTS, ModelNotBuiltError, is_built, model_path, read_meta


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


def test_serving_model_path_accepts_any_built_model_directory(tmp_path: Path) -> None:
    from pipeline.hotpath.artefacts import check_kind, serving_model_path

    student = tmp_path / "sentiment-student"
    student.mkdir()
    (student / "meta.json").write_text(json.dumps({"kind": "sentiment", "labels": ["negative"]}))
    assert serving_model_path(tmp_path, "sentiment-student") == student
    assert serving_model_path(tmp_path, "sentiment-student", "sentiment") == student
    with pytest.raises(ModelNotBuiltError, match="'fraud' model is needed"):
        serving_model_path(tmp_path, "sentiment-student", "fraud")
    with pytest.raises(ModelNotBuiltError, match="does not exist"):
        serving_model_path(tmp_path, "sentiment-large")
    for bad in ("", "..", ".cache", "a/b", "../sentiment"):
        with pytest.raises(ValueError, match="directory name"):
            serving_model_path(tmp_path, bad)
    with pytest.raises(ValueError, match="unknown model kind"):
        serving_model_path(tmp_path, "sentiment-student", "spam")
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "meta.json").write_text(json.dumps({"kind": "spam", "labels": ["x"]}))
    with pytest.raises(ModelNotBuiltError, match="lacks kind"):
        serving_model_path(tmp_path, "odd")
    check_kind(student, {"kind": "sentiment"}, "sentiment")
    with pytest.raises(ModelNotBuiltError) as info:
        check_kind(student, {"kind": "sentiment"}, "fraud")
    assert not info.value.retriable
