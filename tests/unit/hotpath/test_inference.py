from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.hotpath.artefacts import GPU_MODEL_FILE, MODEL_FILE, is_built
from pipeline.hotpath.inference import BATCH_TOLERANCE, ModelNotBuiltError, OnnxClassifier
from tests.unit.modelbuild.smoke import REPO_MODELS, smoke_model_dir

NEGATIVE = "This is the worst airline ever. Flight cancelled, lost my bag, rude staff, never again."
POSITIVE = "Thank you so much, the crew was wonderful and the flight was great! Love it."


def test_missing_directory_raises_model_not_built(tmp_path: Path) -> None:
    with pytest.raises(ModelNotBuiltError) as info:
        OnnxClassifier.load(tmp_path / "sentiment")
    assert info.value.retriable is False
    assert "streamguard models build" in str(info.value)


CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider' is not in available")
def test_a_cuda_provider_that_does_not_load_falls_back_to_the_int8_graph_on_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The same code a GPU machine runs: onnxruntime is told CUDA is available, the CPU build then
    falls back to CPU for the GPU graph, and the classifier notices and serves the int8 graph."""
    import onnxruntime

    model = tmp_path / "sentiment"
    shutil.copytree(REPO_MODELS / "sentiment", model)
    shutil.copyfile(model / MODEL_FILE, model / GPU_MODEL_FILE)  # stands in for the float graph
    (model / MODEL_FILE).write_bytes(b"")  # would fail if loaded: proves which graph served
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    with pytest.raises(ModelNotBuiltError, match="cannot load artefacts"):
        OnnxClassifier.load(model, threads=1)  # fell back to the (broken) int8 graph
    shutil.copyfile(model / GPU_MODEL_FILE, model / MODEL_FILE)
    with caplog.at_level("WARNING"):
        classifier = OnnxClassifier.load(model, threads=1)
    assert classifier.provider == CPU
    assert classifier.gpu_fallback == "the CUDA provider did not load (onnxruntime fell back to CPU)"
    assert "runs on CPU, int8 graph" in caplog.text


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return smoke_model_dir(tmp_path_factory)


@pytest.mark.slow
def test_smoke_sentiment_model_scores(smoke_dir: Path) -> None:
    model = OnnxClassifier.load(smoke_dir / "sentiment", threads=1)
    assert model.kind == "sentiment" and model.labels == ("negative", "neutral", "positive")
    assert model.provider == "CPUExecutionProvider"
    assert model.version.startswith("0.1.0+") and model.feature_names == ()
    probs = model.predict([NEGATIVE, POSITIVE, "ok"])
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model.predict([]).shape == (0, 3)


@pytest.mark.slow
def test_smoke_fraud_model_needs_features(smoke_dir: Path) -> None:
    from pipeline.features.model_inputs import FEATURE_NAMES

    model = OnnxClassifier.load(smoke_dir / "fraud", threads=1)
    assert model.labels == ("legit", "fraud") and model.feature_names == FEATURE_NAMES
    features = np.zeros((2, len(FEATURE_NAMES)), dtype=np.float32)
    probs = model.predict(["Tesco Stores | weekly shop", "PAYPAL *VERIFY | card verification"], features)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="features"):
        model.predict(["x"])
    with pytest.raises(ValueError, match="shape"):
        model.predict(["x"], features)


@pytest.mark.slow
def test_fraud_model_reuses_embeddings_of_seen_descriptions(smoke_dir: Path) -> None:
    from pipeline.features.model_inputs import FEATURE_NAMES

    cached = OnnxClassifier.load(smoke_dir / "fraud", threads=1)
    uncached = OnnxClassifier.load(smoke_dir / "fraud", threads=1, cache_size=0)
    assert cached.embedding_cache is not None and uncached.embedding_cache is None
    texts = ["Tesco Stores | weekly shop", "PAYPAL *VERIFY | card verification", "Tesco Stores | weekly shop"]
    features = np.random.default_rng(0).normal(size=(3, len(FEATURE_NAMES))).astype(np.float32)
    # Same batch, nothing cached yet: the head scores exactly what the whole model scores.
    np.testing.assert_array_equal(cached.predict(texts, features), uncached.predict(texts, features))
    assert len(cached.embedding_cache) == 2
    # A seen description with other features is scored on those features, not served stale.
    other = features[::-1].copy()
    again = cached.predict(texts, other)
    assert cached.embedding_cache.hits == 2 and len(cached.embedding_cache) == 2  # one look-up per text
    np.testing.assert_allclose(again, uncached.predict(texts, other), atol=1e-6)
    assert not np.allclose(again[0], again[2])  # same text, different features


@pytest.mark.slow
def test_warm_up_reports_each_batch_size(smoke_dir: Path) -> None:
    model = OnnxClassifier.load(smoke_dir / "fraud", threads=1)
    timings = model.warm_up(8)
    assert sorted(timings) == [1, 4, 8] and all(ms > 0 for ms in timings.values())


@pytest.mark.slow
def test_token_drivers_are_words_of_the_text(smoke_dir: Path) -> None:
    model = OnnxClassifier.load(smoke_dir / "sentiment", threads=1)
    drivers = model.token_drivers(NEGATIVE, k=3)
    assert len(drivers) <= 3
    words = NEGATIVE.replace(",", " ").replace(".", " ").split()
    assert all(driver in words for driver in drivers)
    # Kept per text: the same answer again, and a caller changing its copy changes nothing.
    drivers.append("changed")
    assert model.token_drivers(NEGATIVE, k=3) == drivers[:-1]
    assert model.token_drivers(NEGATIVE, k=1) == drivers[:1]


@pytest.mark.slow
def test_corrupt_model_file_raises_model_not_built(smoke_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "sentiment"
    shutil.copytree(smoke_dir / "sentiment", broken)
    (broken / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelNotBuiltError, match="cannot load"):
        OnnxClassifier.load(broken)
    (broken / "meta.json").write_text(json.dumps({"kind": "nonsense"}))
    with pytest.raises(ModelNotBuiltError, match=r"meta\.json"):
        OnnxClassifier.load(broken)


@pytest.mark.slow
@pytest.mark.skipif(not is_built(REPO_MODELS, "sentiment"), reason="no full model in ./models (build it)")
def test_full_sentiment_model_separates_clear_cases() -> None:
    model = OnnxClassifier.load(REPO_MODELS / "sentiment")
    negative, positive = model.predict([NEGATIVE, POSITIVE])
    assert negative[0] > 0.7 and negative[0] > positive[0]
    assert positive[2] > positive[0]
    drivers = model.token_drivers(NEGATIVE)
    assert drivers and all(driver in NEGATIVE for driver in drivers)


@pytest.mark.slow
@pytest.mark.skipif(not is_built(REPO_MODELS, "fraud"), reason="no full model in ./models (build it)")
def test_full_fraud_model_flags_a_cash_out() -> None:
    from pipeline.features.model_inputs import transaction_features_batch, transaction_text
    from tests.unit.event_factories import NIGHT_MS, make_tx

    model = OnnxClassifier.load(REPO_MODELS / "fraud")
    txs = [
        make_tx(),
        make_tx(
            amount=2400.0,
            merchant="Apple Gift Card",
            description="eGift card bulk purchase x8",
            channel="online",
            mcc="5947",
            timestamp=NIGHT_MS,
        ),
    ]
    probs = model.predict([transaction_text(tx) for tx in txs], transaction_features_batch(txs))
    assert probs[0, 1] < 0.2 < 0.5 < probs[1, 1]


@pytest.mark.slow
def test_a_built_model_scores_a_text_the_same_alone_and_padded_in_a_batch(smoke_dir: Path) -> None:
    """Static int8 (the smoke build too): the batch neighbours and the padding they bring change
    nothing a reader could see."""
    model = OnnxClassifier.load(smoke_dir / "sentiment", threads=1, cache_size=0)
    assert model.batch_independent
    alone = model.predict([NEGATIVE])
    in_batch = model.predict(["ok", NEGATIVE, POSITIVE * 3, NEGATIVE + " " + POSITIVE])
    np.testing.assert_allclose(in_batch[1:2], alone, rtol=0, atol=BATCH_TOLERANCE)
