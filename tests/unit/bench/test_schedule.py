from __future__ import annotations

from itertools import pairwise

import orjson
import pytest

from pipeline.bench.schedule import TRANSACTION_SHARE, event_mix, open_loop_offsets


def test_open_loop_offsets_are_evenly_spaced_and_independent_of_the_system() -> None:
    offsets = open_loop_offsets(200, 2.5)
    assert len(offsets) == 500
    assert offsets[0] == 0.0
    assert offsets[1] == pytest.approx(0.005)
    assert offsets[-1] == pytest.approx(499 / 200)
    gaps = {round(b - a, 9) for a, b in pairwise(offsets)}
    assert gaps == {0.005}


def test_open_loop_offsets_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        open_loop_offsets(0, 1)
    with pytest.raises(ValueError):
        open_loop_offsets(10, 0)


def test_event_mix_interleaves_kinds_with_unique_run_ids() -> None:
    events = event_mix(1000, seed=3, run_id="run-a")
    kinds = [event.kind for event in events]
    assert abs(kinds.count("transaction") / len(kinds) - TRANSACTION_SHARE) < 0.06
    assert len({event.event_id for event in events}) == 1000
    assert all(event.event_id.startswith("run-a-") for event in events)
    first_text = next(event for event in events if event.kind == "text")
    first_tx = next(event for event in events if event.kind == "transaction")
    assert orjson.loads(first_text.value)["text"]
    assert orjson.loads(first_tx.value)["event_id"] == first_tx.event_id
    assert event_mix(50, seed=3, run_id="x") == event_mix(50, seed=3, run_id="x")  # repeatable


def test_event_mix_keys_transactions_by_account_and_texts_by_event_id() -> None:
    events = event_mix(200, seed=5, run_id="keys")
    for event in events:
        body = orjson.loads(event.value)
        expected = body["account_id"] if event.kind == "transaction" else body["event_id"]
        assert event.key == expected.encode()
    accounts = {event.key for event in events if event.kind == "transaction"}
    assert len(accounts) < sum(event.kind == "transaction" for event in events)  # accounts recur
