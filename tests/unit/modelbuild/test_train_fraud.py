"""``streamguard models train --kind fraud``: a user's labelled transactions become a served fraud model
whose card matches a re-evaluation and whose threshold the lane serves; a file that cannot train one
is reported row by row, before any training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.features.model_inputs import replay_velocities, transaction_features_batch, transaction_text
from pipeline.hotpath.inference import OnnxClassifier
from pipeline.modelbuild.__main__ import main as models_main
from pipeline.modelbuild.data import stratified_split
from pipeline.modelbuild.eval_metrics import binary_report
from pipeline.modelbuild.train_custom import CALIBRATION_PLOT, TRAINING_SEED
from pipeline.modelbuild.train_data import MIN_ROWS, TrainingDataError, read_labelled_transactions
from pipeline.modelbuild.train_fraud import best_f1_threshold
from pipeline.records.scorers import served_threshold
from pipeline.settings import Settings
from pipeline.synthetic.transactions import generate_transactions


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def _labelled(n: int, seed: int = 5, fraud_rate: float = 0.1) -> list[object]:
    return [{**event, "label": label} for event, label in generate_transactions(n, seed, fraud_rate)]


def test_unusable_rows_are_reported_with_their_line_numbers(tmp_path: Path) -> None:
    rows = _labelled(MIN_ROWS + 60)
    good = dict(rows[0])  # type: ignore[call-overload]
    rows[2] = "{not json"
    rows[4] = {k: v for k, v in good.items() if k != "label"}
    rows[6] = {**good, "label": 2}
    rows[8] = {**good, "label": "maybe"}
    rows[10] = {**good, "amount": -5}
    rows[12] = {k: v for k, v in good.items() if k != "account_id"}
    rows[14] = [good]
    rows[16] = {**good, "label": 1.0}
    rows[18] = {**good, "label": "Fraud"}  # accepted: labels are read case-insensitively
    rows[20] = {**good, "label": False}
    data = read_labelled_transactions(_write(tmp_path / "rows.jsonl", rows))
    problems = [problem.split(":", 1)[0] for problem in data.problems]
    assert problems == [f"line {n}" for n in (3, 5, 7, 9, 11, 13, 15, 17)], data.problems
    assert data.problems[1] == "line 5: missing label"
    assert "got 2" in data.problems[2] and "got 'maybe'" in data.problems[3] and "got 1.0" in data.problems[7]
    assert data.problems[4].startswith("line 11: not a transaction: amount")
    assert "account_id" in data.problems[5] and data.problems[6] == "line 15: not a JSON object"
    assert len(data.transactions) == len(rows) - 8
    kept = [r for i, r in enumerate(rows) if i not in (2, 4, 6, 8, 10, 12, 14, 16)]
    expected = [1 if r["label"] in (1, True, "Fraud") else 0 for r in kept]  # type: ignore[index]
    assert data.labels.tolist() == expected
    assert data.transactions[0].account_id == good["account_id"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "has no usable rows"),
        (["nope", {"label": 1}], "has no usable rows (2 unusable rows, first: line 1: not valid JSON)"),
        ("all legit", "every usable row has the label 'legit'"),
        ("too few", f"need {MIN_ROWS}"),
    ],
)
def test_a_file_that_cannot_train_a_model_stops_before_training(
    tmp_path: Path, rows: list[object] | str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if rows == "all legit":
        rows = [{**event, "label": 0} for event, _ in generate_transactions(80, 3, 0.0)]
    elif rows == "too few":
        rows = _labelled(MIN_ROWS - 1, fraud_rate=0.5)
    assert isinstance(rows, list)
    data = _write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(TrainingDataError) as raised:
        read_labelled_transactions(data)
    assert message in str(raised.value)
    argv = ["train", "--kind", "fraud", "--data", str(data), "--name", "x", "--model-dir", str(tmp_path)]
    assert models_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1], err
    assert not (tmp_path / "x").exists()


def test_the_threshold_is_the_best_f1_cut() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.45, 0.5, 0.7, 0.9])
    # Every cut in (0.45, 0.5] separates the classes; the highest such cut is kept.
    assert best_f1_threshold(labels, scores) == 0.5
    assert best_f1_threshold(np.array([0, 1]), np.array([0.2, 0.3])) == 0.3


@pytest.mark.slow
def test_training_gives_a_served_fraud_model_whose_card_matches_a_re_evaluation(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="training needs the build extra")
    data = _write(tmp_path / "history.jsonl", [*_labelled(1500), "{broken"])
    argv = ["train", "--kind", "fraud", "--data", str(data), "--name", "ours", "--epochs", "20"]
    assert models_main([*argv, "--model-dir", str(tmp_path / "models"), "--no-progress"]) == 0
    path = tmp_path / "models" / "ours"
    meta = json.loads((path / "meta.json").read_text())
    assert (path / CALIBRATION_PLOT).stat().st_size > 1000
    assert meta["data"]["rows_skipped"] == 1 and meta["training"]["epochs_run"] <= 20

    # Re-evaluated from the file alone: the card's test figures are the served model's.
    rows = read_labelled_transactions(data)
    test = stratified_split(rows.labels, seed=TRAINING_SEED).test
    features = transaction_features_batch(rows.transactions, replay_velocities(rows.transactions))
    classifier = OnnxClassifier.load(path, threads=1, cache_size=0)
    assert classifier.labels == ("legit", "fraud") and classifier.batch_independent
    texts = [transaction_text(rows.transactions[i]) for i in test]
    score = classifier.predict(texts, features[test])[:, 1]
    report = binary_report(rows.labels[test], score, meta["threshold"])
    assert report == meta["metrics"]["test_at_threshold"]
    assert report["roc_auc"] > 0.8, report  # the synthetic generator is learnable; a broken pipeline is not
    card = (path / "MODEL_CARD.md").read_text()
    assert f"ROC AUC {report['roc_auc']}," in card and f"P >= {meta['threshold']}" in card

    # The lane alerts at the model's own threshold unless the setting is given.
    assert served_threshold(classifier, Settings(), "fraud_threshold") == meta["threshold"]
    assert served_threshold(classifier, Settings(fraud_threshold=0.9), "fraud_threshold") == 0.9
