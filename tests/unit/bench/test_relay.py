from __future__ import annotations

import time

import orjson
import pytest

from bench.loadgen import legs_of
from bench.relay import event_id_of, relayed


def test_an_event_comes_back_as_its_id_with_both_timestamps() -> None:
    before_ms = time.time() * 1000.0
    event_id = event_id_of(orjson.dumps({"event_id": "tx-7", "account_id": "acc-1", "amount": 3.5}))
    assert event_id == "tx-7"
    value = relayed(event_id, before_ms)
    score = orjson.loads(value)
    assert score["event_id"] == "tx-7"
    assert score["timestamps"]["ingested"] == before_ms
    assert before_ms <= score["timestamps"]["published"] <= time.time() * 1000.0
    # The collector splits a relayed record like a worker's score.
    legs = legs_of(value, scheduled_ms=before_ms - 4.0, received_ms=score["timestamps"]["published"] + 2.0)
    assert legs is not None
    assert legs.input == pytest.approx(4.0)
    assert legs.output == pytest.approx(2.0)


@pytest.mark.parametrize("value", [None, b"", b"not json", b"[1, 2]", orjson.dumps({"text": "no id"})])
def test_a_value_without_an_event_id_has_none(value: bytes | None) -> None:
    assert event_id_of(value) is None
