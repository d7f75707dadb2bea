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
