"""The 3-layer sentiment student: layer dropping, the distillation loss and a smoke build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.modelbuild.build_config import FULL_CONFIG, SMOKE_CONFIG, StudentConfig


def test_student_config_is_part_of_the_build_config() -> None:
    assert FULL_CONFIG.student.layers == (0, 2, 4) and FULL_CONFIG.student.init == "teacher"
    assert SMOKE_CONFIG.student.max_steps == 4
    assert "student" in FULL_CONFIG.as_dict()


def test_distillation_loss_mixes_kl_and_cross_entropy() -> None:
    import torch

    from pipeline.modelbuild.student import distillation_loss

    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    labels = torch.tensor([0, 2])
    ce = torch.nn.functional.cross_entropy(logits, labels)
    teacher = torch.softmax(logits, dim=-1)
    # weight 0: plain cross-entropy on labels
    assert torch.isclose(distillation_loss(logits, labels, teacher, 2.0, 0.0), ce)
    # a student equal to its teacher has no KL term at any temperature
    assert torch.isclose(distillation_loss(logits, labels, teacher, 2.0, 1.0), torch.tensor(0.0), atol=1e-6)
    other = torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    assert float(distillation_loss(logits, labels, other, 2.0, 1.0)) > 0.0


def test_drop_layers_keeps_the_chosen_layers_and_the_head() -> None:
    import torch

    from pipeline.modelbuild.finetune import new_net
    from pipeline.modelbuild.student import drop_layers, initial_student

    teacher = new_net(3, 0.1).eval()
    student = drop_layers(teacher, (0, 2, 4)).eval()
    assert len(student.encoder.encoder.layer) == 3 and len(teacher.encoder.encoder.layer) == 6
    kept = student.encoder.encoder.layer[1].state_dict()
    for name, value in teacher.encoder.encoder.layer[2].state_dict().items():
        assert torch.equal(kept[name], value)
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)
    assert student.classifier.weight is not teacher.classifier.weight, "a copy, not shared weights"
    ids = torch.tensor([[101, 7592, 2088, 102]])
    assert student(ids, torch.ones_like(ids)).shape == (1, 3)
    with pytest.raises(ValueError, match="layers to keep"):
        drop_layers(teacher, (0, 6))
    assert len(initial_student(None, StudentConfig(layers=(0, 5)), 3).encoder.encoder.layer) == 2


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.modelbuild.build import build_models

    target = tmp_path_factory.mktemp("student-smoke")
    build_models(target, smoke=True, kinds=("sentiment-student",), progress=False)
    return target


@pytest.mark.slow
def test_smoke_student_build_is_a_drop_in_sentiment_model(student_dir: Path) -> None:
    from pipeline.hotpath.artefacts import ARTEFACTS, GPU_MODEL_FILE, serving_model_path
    from pipeline.hotpath.inference import OnnxClassifier

    path = serving_model_path(student_dir, "sentiment-student", "sentiment")
    assert not (student_dir / "sentiment").exists(), "only the asked-for target is built"
    assert sorted(p.name for p in path.iterdir()) == sorted([*ARTEFACTS, GPU_MODEL_FILE])
    classifier = OnnxClassifier.load(path, threads=1)
    assert classifier.kind == "sentiment" and classifier.labels == ("negative", "neutral", "positive")
    probs = classifier.predict(["worst flight ever, lost my bag", "thanks, great service!", "ok"])
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)

    meta = json.loads((path / "meta.json").read_text())
    assert meta["kind"] == "sentiment" and meta["smoke"] is True
    assert meta["head"]["layers"] == 3 and meta["head"]["training"]["steps"] == 4
    metrics = meta["metrics"]
    assert {"test", "test_fp32", "latency_ms", "latency_ms_fp32", "teacher"} <= set(metrics)
    assert {"test_fp32", "test_int8", "latency_ms_fp32", "latency_ms_int8"} <= set(metrics["teacher"])
    assert meta["serving_parity"]["served_vs_evaluated_max_abs_diff"] < 1e-4
    assert "Compared with its teacher" in (path / "MODEL_CARD.md").read_text()
    cache = student_dir / ".cache"
    assert list(cache.glob("sentiment-student-*.pt")) and list(cache.glob("sentiment-finetune-*.pt"))


@pytest.mark.slow
def test_eval_prints_the_compression_table(student_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.modelbuild.__main__ import main

    assert main(["eval", "--model-dir", str(student_dir)]) == 0
    out = capsys.readouterr().out
    assert "minilm-l3-sentiment-student" in out and "Compression" in out
    assert "sentiment: not built" in out and "fraud: not built" in out
