"""The overload policy (pure) and the cheap fallback an overloaded lane scores with."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.hotpath.artefacts import is_built
from pipeline.hotpath.fallback import TokenWeightFallback
from pipeline.hotpath.overload import ShedPolicy
from pipeline.synthetic.transactions import generate_transactions
from schemas import TextEvent, Transaction
from tests.integration.workers import MODEL_DIR

POLICY = ShedPolicy.for_queue(sla_ms=20.0, queue_size=100)


def test_a_lane_that_can_still_meet_the_sla_is_not_behind() -> None:
    assert not POLICY.behind(oldest_ingested_ms=1000.0, now_ms=1005.0, predicted_ms=10.0, queued=8)
    assert not POLICY.behind(oldest_ingested_ms=1000.0, now_ms=1010.0, predicted_ms=10.0, queued=50)


def test_a_batch_that_would_miss_its_deadline_through_the_model_is_behind() -> None:
    assert POLICY.behind(oldest_ingested_ms=1000.0, now_ms=1010.0, predicted_ms=10.5, queued=1)
    assert POLICY.behind(oldest_ingested_ms=1000.0, now_ms=1030.0, predicted_ms=0.0, queued=1)


def test_an_intake_over_half_full_is_behind_even_on_time() -> None:
    assert POLICY.high_water == 50
    assert POLICY.behind(oldest_ingested_ms=1000.0, now_ms=1000.0, predicted_ms=1.0, queued=51)
    assert ShedPolicy.for_queue(20.0, 1).high_water == 1


needs_models = pytest.mark.skipif(
    not (is_built(MODEL_DIR, "fraud") and is_built(MODEL_DIR, "sentiment")), reason="models not built"
)


@needs_models
def test_the_text_fallback_gives_probabilities_that_rank_negative_text_higher() -> None:
    fallback = TokenWeightFallback.load(MODEL_DIR / "sentiment")
    texts = [
        TextEvent(event_id="a", text="terrible outage again, furious and cancelling", timestamp=0),
        TextEvent(event_id="b", text="lovely day, thanks for the great help!", timestamp=0),
    ]
    probs = fallback.predict(texts)
    assert probs.shape == (2, len(fallback.labels))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    negative = fallback.labels.index("negative")
    assert probs[0, negative] > 0.5 > probs[1, negative]


@needs_models
def test_the_transaction_fallback_ranks_synthetic_fraud_above_legit() -> None:
    fallback = TokenWeightFallback.load(MODEL_DIR / "fraud")
    pairs = generate_transactions(400, seed=5, fraud_rate=0.2)
    probs = fallback.predict([Transaction.model_validate(tx) for tx, _ in pairs])
    fraud = probs[:, fallback.labels.index("fraud")]
    is_fraud = np.array([bool(label) for _, label in pairs])
    assert fraud.min() >= 0.0 and fraud.max() <= 1.0
    assert fraud[is_fraud].mean() > fraud[~is_fraud].mean() + 0.2
