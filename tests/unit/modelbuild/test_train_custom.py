"""``streamguard models train``: a user's labelled texts become a served text model whose card
matches a re-evaluation; a file that cannot train one is reported row by row, before any training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.hotpath.inference import OnnxClassifier
from pipeline.modelbuild.__main__ import main as models_main
from pipeline.modelbuild.alert_cut import alert_rates
from pipeline.modelbuild.data import stratified_split
from pipeline.modelbuild.train_custom import CALIBRATION_PLOT, train_text_model
from pipeline.modelbuild.train_data import MIN_ROWS, TrainingDataError, read_labelled_texts
from pipeline.records.scorers import served_threshold
from pipeline.settings import Settings
from pipeline.synthetic.texts import generate_labelled_texts


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def _labelled(n: int, seed: int = 3) -> list[object]:
    return [{"text": event["text"], "label": label} for event, label in generate_labelled_texts(n, seed)]


def test_unusable_rows_are_reported_with_their_line_numbers(tmp_path: Path) -> None:
    rows = _labelled(MIN_ROWS + 30)
    rows[3] = {"text": "  ", "label": "negative"}
    rows[7] = "{not json"
    rows[11] = {"text": "fine", "label": True}
    rows[12] = ["a list"]
    data = read_labelled_texts(_write(tmp_path / "rows.jsonl", rows))
    assert data.problems == (
        "line 4: missing or empty text",
        "line 8: not valid JSON",
        "line 12: label must be a string or an integer, got True",
        "line 13: not a JSON object",
    )
    assert len(data.texts) == len(rows) - 4 and data.names == ("negative", "neutral", "positive")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "has no usable rows"),
        (["nope", {"text": ""}], "has no usable rows (2 unusable rows, first: line 1: not valid JSON)"),
        ([{"text": f"t{i}", "label": "a"} for i in range(80)], "every usable row has the label 'a'"),
        ([{"text": f"t{i}", "label": i % 2} for i in range(MIN_ROWS - 1)], f"need {MIN_ROWS}"),
        ([{"text": f"t{i}", "label": "rare" if i < 3 else "common"} for i in range(90)], "'rare': 3"),
    ],
)
def test_a_file_that_cannot_train_a_model_stops_before_training(
    tmp_path: Path, rows: list[object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(TrainingDataError) as raised:
        read_labelled_texts(data)
    assert message in str(raised.value)
    argv = ["train", "--kind", "sentiment", "--data", str(data), "--name", "x", "--model-dir", str(tmp_path)]
    assert models_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1], err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_short_training_run_gives_a_servable_model_whose_card_matches_a_re_evaluation(
    tmp_path: Path,
) -> None:
    pytest.importorskip("torch", reason="training needs the build extra")
    data = _write(tmp_path / "tickets.jsonl", _labelled(300))
    meta = train_text_model(data, tmp_path / "models", name="tickets", epochs=1, max_steps=6, progress=False)
    path = tmp_path / "models" / "tickets"
    assert (path / CALIBRATION_PLOT).stat().st_size > 1000
    classifier = OnnxClassifier.load(path, threads=1)
    assert classifier.labels == ("negative", "neutral", "positive") and classifier.batch_independent

    rows = read_labelled_texts(data)
    test = stratified_split(rows.labels, seed=13).test
    probs = classifier.predict([rows.texts[i] for i in test])
    accuracy = float(np.mean(probs.argmax(axis=1) == rows.labels[test]))
    assert round(accuracy, 4) == meta["metrics"]["test"]["accuracy"]
    assert meta["data"]["split"]["test"] == len(test) == meta["metrics"]["test"]["n"]
    card = (path / "MODEL_CARD.md").read_text()
    assert f"Accuracy {meta['metrics']['test']['accuracy']}," in card
    assert sum(sum(row) for row in meta["metrics"]["confusion"]["counts"]) == len(test)

    # The threshold was chosen on validation for at most 5% false alerts, and the lane serves it.
    val = stratified_split(rows.labels, seed=13).val
    negative = classifier.labels.index("negative")
    val_scores = classifier.predict([rows.texts[i] for i in val])[:, negative]
    false_alerts, _ = alert_rates(val_scores, rows.labels[val] == negative, meta["threshold"])
    assert false_alerts <= 0.05 and meta["alert_policy"]["false_alert_rate"] == 0.05
    assert f"at P >= {meta['threshold']}" in card
    assert served_threshold(classifier, Settings(), "sentiment_threshold") == meta["threshold"]
    assert served_threshold(classifier, Settings(sentiment_threshold=0.9), "sentiment_threshold") == 0.9


@pytest.mark.slow
def test_the_int8_graph_is_replaced_by_fp32_when_it_loses_accuracy(tmp_path: Path) -> None:
    # Two shipped graphs stand in for a worse "int8" graph and its "fp32" reference: labels are the
    # reference's own predictions, so the reference is exact and the other graph loses what it disagrees.
    from pipeline.hotpath.tokenize import TextTokenizer
    from pipeline.modelbuild.onnx_scoring import OnnxProbabilities
    from pipeline.modelbuild.train_custom import INT8_MAX_LOSS, keep_int8_or_fp32
    from tests.unit.modelbuild.smoke import REPO_MODELS

    tokenizer = TextTokenizer.from_file(REPO_MODELS / "sentiment" / "tokenizer.json", max_tokens=128)
    texts = [str(row["text"]) for row in _labelled(400, seed=9)]  # type: ignore[index]
    reference = REPO_MODELS / "sentiment" / "model.onnx"
    labels = OnnxProbabilities(reference, tokenizer, threads=2)(texts).argmax(axis=1)
    weaker = tmp_path / "int8.onnx"
    weaker.write_bytes((REPO_MODELS / "sentiment-student" / "model.onnx").read_bytes())
    agreement = float(
        np.mean(OnnxProbabilities(weaker, tokenizer, threads=2)(texts).argmax(axis=1) == labels)
    )
    assert agreement < 1 - INT8_MAX_LOSS, "the stand-in graphs agree too well to test the rule"

    note = keep_int8_or_fp32(weaker, reference, tokenizer, texts, labels)
    assert note.startswith("fp32, not int8") and weaker.read_bytes() == reference.read_bytes()
    assert "calibrated on" in keep_int8_or_fp32(weaker, reference, tokenizer, texts, labels)
