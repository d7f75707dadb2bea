"""``streamguard models import``: an outside classifier in Hugging Face's ONNX layout becomes a served
text model with its own labels; what it cannot serve stops with one line naming the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.hotpath.inference import OnnxClassifier
from pipeline.modelbuild.__main__ import main as models_main
from pipeline.modelbuild.importer import ModelImportError, import_model
from pipeline.records.rules import Rules
from pipeline.records.scorers import SentimentScorer
from pipeline.settings import load_settings
from schemas import TextEvent
from tests.unit.event_factories import text_event
from tests.unit.modelbuild.outside_classifier import LABELS, write_outside_classifier

pytestmark = pytest.mark.slow
TEXTS = ["the checkout page times out again", "thanks, all good now", "URGENT: payments failing for everyone"]


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers", reason="the build extra exports the outside classifier")
    return write_outside_classifier(tmp_path_factory.mktemp("outside") / "hf")


def _original_probabilities(source: Path, texts: list[str]) -> np.ndarray:
    """The model as given: its own graph with token_type_ids of zeros, softmax over logits."""
    import onnxruntime as ort

    from pipeline.hotpath.tokenize import TextTokenizer

    session = ort.InferenceSession(str(source / "model.onnx"), providers=["CPUExecutionProvider"])
    tokenizer = TextTokenizer.from_file(source / "tokenizer.json", max_tokens=128)
    rows = []
    for text in texts:
        batch = tokenizer.encode([text])
        feeds = {
            "input_ids": batch.input_ids,
            "attention_mask": batch.attention_mask,
            "token_type_ids": np.zeros_like(batch.input_ids),
        }
        (logits,) = session.run(["logits"], feeds)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        rows.append(exp / exp.sum(axis=1, keepdims=True))
    return np.concatenate(rows)


def test_an_imported_model_serves_the_original_probabilities_with_its_own_labels(
    outside: Path, tmp_path: Path
) -> None:
    model = import_model(outside, tmp_path, name="outside", alert_class="urgent", quantize="none")
    classifier = OnnxClassifier.load(model.path, threads=1)
    assert classifier.labels == LABELS and classifier.kind == "sentiment"
    np.testing.assert_allclose(classifier.predict(TEXTS), _original_probabilities(outside, TEXTS), atol=1e-5)
    assert classifier.batch_independent and classifier.cache is not None


def test_int8_import_records_its_parity_with_the_original_on_the_card(outside: Path, tmp_path: Path) -> None:
    model = import_model(outside, tmp_path, name="outside8", alert_class="angry", threshold=0.4)
    parity = model.meta["imported"]["int8_vs_original"]
    assert parity["texts"] == 400 and parity["label_agreement"] >= 0.95
    card = (model.path / "MODEL_CARD.md").read_text()
    assert f"labels agree on {parity['label_agreement']:.1%}" in card
    assert "Alerts on `angry` at P >= 0.4" in card
    classifier = OnnxClassifier.load(model.path, threads=1)
    worst = np.max(np.abs(classifier.predict(TEXTS) - _original_probabilities(outside, TEXTS)))
    assert worst <= max(parity["max_abs_prob_diff"], 0.05)


def test_the_texts_lane_alerts_on_the_imported_models_class_and_threshold(
    outside: Path, tmp_path: Path
) -> None:
    model = import_model(
        outside, tmp_path, name="outside", alert_class="urgent", threshold=0.01, quantize="none"
    )
    settings = load_settings(model_dir=tmp_path)  # no STREAMGUARD_SENTIMENT_THRESHOLD: the model's 0.01
    classifier = OnnxClassifier.load(model.path, threads=1)
    scorer = SentimentScorer(classifier, Rules.from_settings(settings), settings)
    event = TextEvent.model_validate(text_event(text=TEXTS[2]))
    probs = classifier.predict([event.text])[0]
    score_out, alert_out = scorer.outputs(event, probs, ingested=0.0, scored=1.0, published=2.0)
    score = json.loads(score_out.value)
    assert set(score["probabilities"]) == set(LABELS)
    assert score["label"] == LABELS[int(np.argmax(probs))]
    assert score["score"] == pytest.approx(float(probs[LABELS.index("urgent")]))
    assert alert_out.topic == settings.topic_alerts_sentiment
    assert "P(urgent) " in alert_out.value.decode()  # the rule names the model's class, not "negative"
    overridden = load_settings(model_dir=tmp_path, sentiment_threshold=0.99)
    strict = SentimentScorer(classifier, Rules.from_settings(overridden), overridden)
    assert len(strict.outputs(event, probs, ingested=0.0, scored=1.0, published=2.0)) == 1  # setting wins


def _broken_copy(outside: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(outside, copy)
    return copy


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("no_tokenizer", "has no tokenizer.json"),
        ("no_id2label", "has no id2label"),
        ("unknown_alert_class", "--alert-class 'toxic' is not a label of this model: calm, urgent, angry"),
        ("no_alert_class", "name the label to alert on with --alert-class (one of: calm, urgent, angry)"),
        ("not_onnx", "is not an ONNX model"),
    ],
)
def test_what_cannot_be_served_stops_with_one_line_naming_it(
    outside: Path, tmp_path: Path, breakage: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _broken_copy(outside, tmp_path)
    alert_class = {"unknown_alert_class": "toxic", "no_alert_class": None}.get(breakage, "urgent")
    if breakage == "no_tokenizer":
        (source / "tokenizer.json").unlink()
    elif breakage == "no_id2label":
        config = json.loads((source / "config.json").read_text())
        config.pop("id2label")
        (source / "config.json").write_text(json.dumps(config))
    elif breakage == "not_onnx":
        (source / "model.onnx").write_bytes(b"not a graph")
    argv = ["import", str(source), "--name", "x", "--model-dir", str(tmp_path / "models")]
    argv += ["--alert-class", alert_class] if alert_class else []
    assert models_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "models" / "x").exists()


def test_a_graph_with_inputs_it_cannot_feed_is_refused(outside: Path, tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    source = _broken_copy(outside, tmp_path)
    graph = onnx.load(str(source / "model.onnx"))
    graph.graph.input.append(helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [None, 3]))
    onnx.save(graph, str(source / "model.onnx"))
    with pytest.raises(ModelImportError, match="unsupported pixel_values"):
        import_model(source, tmp_path / "models", name="x", alert_class="urgent")
