"""The worker serves the model its settings name, and says so in every score."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.hotpath.artefacts import STUDENT_MODEL, is_complete, read_meta
from pipeline.synthetic.transactions import generate_texts
from tests.integration.kafka_helpers import produce_many
from tests.integration.workers import MODEL_DIR, Topics, WorkerProcess, collect, keyed, values, worker_env

pytestmark = pytest.mark.integration


@pytest.mark.skipif(
    not is_complete(MODEL_DIR / STUDENT_MODEL, "sentiment"), reason=f"no {STUDENT_MODEL} model in {MODEL_DIR}"
)
async def test_the_sentiment_model_setting_picks_the_served_model(broker: str, tmp_path: Path) -> None:
    topics = Topics()
    meta = read_meta(MODEL_DIR / STUDENT_MODEL)
    texts = generate_texts(20, seed=5)
    worker = WorkerProcess(
        worker_env(broker, topics, STREAMGUARD_SENTIMENT_MODEL=STUDENT_MODEL), tmp_path / "worker.log"
    )
    try:
        await produce_many(broker, topics.texts, [keyed(t) for t in texts])
        records = await collect(
            broker, [topics.scores_texts], lambda rs: len(rs) >= 20, timeout_s=120, alive=worker.assert_alive
        )
    finally:
        worker.stop()
    models = {(s["model"]["name"], s["model"]["version"]) for s in values(records)}  # type: ignore[index]
    assert models == {(meta["name"], meta["version"])}


async def test_a_model_of_the_wrong_kind_stops_the_worker_with_a_clear_error(
    broker: str, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    # The fraud model on the texts lane: refused at start, not discovered by a shape error per event.
    worker = WorkerProcess(worker_env(broker, Topics(), STREAMGUARD_SENTIMENT_MODEL="fraud"), log)
    assert worker.proc.wait(120) == 2  # not retriable: restarting cannot help
    worker.stop()
    output = log.read_text(errors="replace")
    assert "'fraud'" in output and "'sentiment' model is needed" in output, output[-2000:]
    assert "Traceback" not in output  # one clear line, not a stack


async def test_an_imported_outside_classifier_scores_and_alerts_with_its_own_labels(
    broker: str, tmp_path: Path
) -> None:
    """`streamguard models import` of a Hugging Face-format classifier the test builds itself: the
    texts lane serves it, its labels are the score records' labels and keys, and it alerts on its own
    class at its own threshold."""
    pytest.importorskip("transformers", reason="the build extra exports the outside classifier")
    import numpy as np

    from pipeline.hotpath.inference import OnnxClassifier
    from pipeline.modelbuild.__main__ import main as models_main
    from tests.unit.modelbuild.outside_classifier import LABELS, write_outside_classifier

    model_dir = tmp_path / "models"
    model_dir.mkdir()
    (model_dir / "fraud").symlink_to(MODEL_DIR / "fraud")
    (model_dir / "sentiment").symlink_to(MODEL_DIR / "sentiment")
    source = write_outside_classifier(tmp_path / "hf")
    texts = generate_texts(60, seed=9)
    # A threshold that splits these texts: half of them should alert.
    argv = [
        "import",
        str(source),
        "--name",
        "outside",
        "--alert-class",
        "urgent",
        "--model-dir",
        str(model_dir),
    ]
    assert models_main([*argv, "--threshold", "0.5"]) == 0
    scores = OnnxClassifier.load(model_dir / "outside").predict([str(t["text"]) for t in texts])[:, 1]
    threshold = float(np.median(scores))
    assert models_main([*argv, "--threshold", f"{threshold:.6f}", "--force"]) == 0

    topics = Topics()
    env = worker_env(
        broker, topics, STREAMGUARD_MODEL_DIR=str(model_dir), STREAMGUARD_SENTIMENT_MODEL="outside"
    )
    env.pop("STREAMGUARD_SENTIMENT_THRESHOLD", None)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        await produce_many(broker, topics.texts, [keyed(t) for t in texts])
        records = values(
            await collect(
                broker,
                [topics.scores_texts],
                lambda rs: len(rs) >= len(texts),
                timeout_s=120,
                alive=worker.assert_alive,
            )
        )
        expected_alerts = {r["event_id"] for r in records if r["score"] >= threshold}  # type: ignore[index]
        alerts = values(
            await collect(
                broker,
                [topics.alerts_sentiment],
                lambda rs: len(rs) >= len(expected_alerts),
                timeout_s=60,
                settle_s=2.0,
                alive=worker.assert_alive,
            )
        )
    finally:
        worker.stop()
    assert {r["model"]["name"] for r in records} == {"outside"}  # type: ignore[index]
    assert all(set(r["probabilities"]) == set(LABELS) and r["label"] in LABELS for r in records)  # type: ignore[index]
    assert 0 < len(expected_alerts) < len(texts)
    assert {a["event_id"] for a in alerts} == expected_alerts  # type: ignore[index]
    assert all("P(urgent)" in str(a["reasons"]) for a in alerts), alerts[0]  # type: ignore[index]
