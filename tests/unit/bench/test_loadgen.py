from __future__ import annotations

import orjson
import pytest

from bench.loadgen import Legs, legs_of


def _score(**timestamps: float) -> bytes:
    return orjson.dumps({"event_id": "e-1", "score": 0.2, "timestamps": timestamps})


def test_a_score_splits_its_latency_at_the_worker_timestamps() -> None:
    score = _score(event=999.0, ingested=1_004.5, scored=1_007.0, published=1_007.25)
    legs = legs_of(score, scheduled_ms=1_000.0, received_ms=1_010.0)
    assert legs == Legs(
        input=pytest.approx(4.5), worker=pytest.approx(2.75), output=pytest.approx(2.75), to_scored=2.5
    )
    assert legs is not None and legs.input + legs.worker + legs.output == pytest.approx(10.0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"not json",
        b"[1, 2]",
        orjson.dumps({"event_id": "e-1", "score": 0.2}),  # the naive baseline's score
        _score(event=1.0, ingested=2.0),  # no published time
        orjson.dumps({"timestamps": {"ingested": "soon", "published": 3.0}}),
    ],
)
def test_a_record_without_usable_timestamps_has_no_legs(value: bytes | None) -> None:
    assert legs_of(value, scheduled_ms=0.0, received_ms=5.0) is None


def test_the_in_sla_share_counts_scores_published_within_the_sla_of_ingestion() -> None:
    from bench.loadgen import within_sla_pct

    assert within_sla_pct([5.0, 20.0, 20.5, 80.0], 20.0) == 50.0
    assert within_sla_pct([], 20.0) is None
    relay = legs_of(_score(ingested=2.0, published=3.0), scheduled_ms=0.0, received_ms=5.0)
    assert relay is not None and relay.to_scored is None  # a record without a scored stamp
