"""Fine-tune path of the sentiment build: batching, schedule, cache, and a tiny end-to-end build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.modelbuild.build_config import FULL_CONFIG, SMOKE_CONFIG, FinetuneConfig
from pipeline.modelbuild.finetune import cache_key, length_buckets, linear_schedule


def test_length_buckets_cover_every_row_once_with_similar_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 64, size=1_000)
    batches = length_buckets(lengths, 32, 10, np.random.default_rng(1))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1_000))
    assert all(1 <= len(b) <= 32 for b in batches)
    # Within a batch the spread of lengths is far below the spread of the whole set.
    spread = np.mean([np.ptp(lengths[b]) for b in batches if len(b) == 32])
    assert spread < 0.25 * np.ptp(lengths)


def test_length_buckets_are_seeded() -> None:
    lengths = np.arange(100) % 17
    first = length_buckets(lengths, 8, 4, np.random.default_rng(5))
    second = length_buckets(lengths, 8, 4, np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_linear_schedule_warms_up_then_decays_to_zero() -> None:
    factor = linear_schedule(warmup=10, total=100)
    assert factor(0) == pytest.approx(0.1)
    assert factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0)
    assert factor(55) == pytest.approx(0.5)
    assert factor(100) == 0.0


def test_cache_key_changes_with_config_data_and_seed() -> None:
    labels = np.array([0, 1])
    base = cache_key(FinetuneConfig(), 13, ["a", "b"], labels)
    assert base == cache_key(FinetuneConfig(), 13, ["a", "b"], labels)
    assert base != cache_key(FinetuneConfig(epochs=2.0), 13, ["a", "b"], labels)
    assert base != cache_key(FinetuneConfig(), 14, ["a", "b"], labels)
    assert base != cache_key(FinetuneConfig(), 13, ["a", "c"], labels)
    assert base != cache_key(FinetuneConfig(), 13, ["a", "b"], np.array([1, 0]))


def test_full_build_fine_tunes_and_smoke_fine_tune_is_tiny() -> None:
    assert FULL_CONFIG.sentiment.method == "finetune"
    assert SMOKE_CONFIG.sentiment.method == "head"
    smoke = SMOKE_CONFIG.with_sentiment_method("finetune")
    assert smoke.sentiment.method == "finetune" and smoke.sentiment.finetune.max_steps == 4
    assert smoke.fingerprint() != SMOKE_CONFIG.fingerprint()


@pytest.fixture(scope="module")
def finetuned_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.modelbuild.build import build_models

    target = tmp_path_factory.mktemp("finetune-smoke")
    build_models(target, smoke=True, sentiment="finetune", kinds=("sentiment",), progress=False)
    return target


@pytest.mark.slow
def test_smoke_fine_tune_build_serves_through_the_usual_loader(finetuned_dir: Path) -> None:
    from pipeline.hotpath.artefacts import ARTEFACTS, GPU_MODEL_FILE, is_built
    from pipeline.hotpath.inference import OnnxClassifier

    assert is_built(finetuned_dir, "sentiment") and not is_built(finetuned_dir, "fraud")
    path = finetuned_dir / "sentiment"
    assert sorted(p.name for p in path.iterdir()) == sorted([*ARTEFACTS, GPU_MODEL_FILE])
    classifier = OnnxClassifier.load(path, threads=1)
    probs = classifier.predict(["worst flight ever, lost my bag", "thanks, great service!", "ok"])
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert classifier.labels == ("negative", "neutral", "positive")

    meta = json.loads((path / "meta.json").read_text())
    assert meta["smoke"] is True and meta["encoder"]["training"] == "finetune"
    assert meta["head"]["training"]["steps"] == 4
    metrics = meta["metrics"]
    assert {"val", "test", "test_fp32", "int8_vs_fp32_test", "latency_ms"} <= set(metrics)
    assert {"B1_median_ms", "B16_median_ms"} <= set(metrics["latency_ms"])
    assert meta["serving_parity"]["served_vs_evaluated_max_abs_diff"] < 1e-4
    assert "fully fine-tuned" in (path / "MODEL_CARD.md").read_text()
    assert list((finetuned_dir / ".cache").glob("sentiment-finetune-*.pt")), "weights are cached"


@pytest.mark.slow
def test_eval_command_prints_the_table(finetuned_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.modelbuild.__main__ import main

    assert main(["eval", "--model-dir", str(finetuned_dir)]) == 0
    out = capsys.readouterr().out
    assert "minilm-l6-sentiment-finetuned" in out and "fraud: not built" in out
    assert "macro-F1" in out


def test_unknown_kind_is_rejected(tmp_path: Path) -> None:
    from pipeline.modelbuild.build import build_models

    with pytest.raises(ValueError, match="unknown model kinds"):
        build_models(tmp_path, smoke=True, kinds=("spam",), progress=False)
