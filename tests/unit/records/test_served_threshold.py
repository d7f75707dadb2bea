"""Alert thresholds come from the served model's meta.json when it states one; a threshold setting
given in the environment (or to Settings) still wins."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from pipeline.records.scorers import Classifier, served_threshold
from pipeline.settings import load_settings


def _model(meta: dict[str, Any]) -> Classifier:
    return cast(Classifier, SimpleNamespace(meta=meta))


@pytest.mark.parametrize("setting", ["fraud_threshold", "sentiment_threshold"])
def test_the_models_threshold_applies_unless_the_setting_is_given(
    setting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(f"STREAMGUARD_{setting.upper()}", raising=False)
    defaults = load_settings()
    assert served_threshold(_model({}), defaults, setting) == getattr(defaults, setting)
    assert served_threshold(_model({"threshold": 0.42}), defaults, setting) == 0.42
    given = load_settings(**{setting: 0.9})
    assert served_threshold(_model({"threshold": 0.42}), given, setting) == 0.9
    monkeypatch.setenv(f"STREAMGUARD_{setting.upper()}", "0.8")
    assert served_threshold(_model({"threshold": 0.42}), load_settings(), setting) == 0.8
