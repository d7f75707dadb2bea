from __future__ import annotations

from itertools import pairwise

import orjson
import pytest

from bench.schedule import TRANSACTION_SHARE, BenchEvent, event_mix, open_loop_offsets, repeat_shares


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


def _like(event: BenchEvent, **changes: object) -> BenchEvent:
    body = {**orjson.loads(event.value), **changes}
    return BenchEvent(event.kind, event.event_id, orjson.dumps(body), event.key)


def test_repeat_shares_count_texts_and_model_texts_seen_earlier_in_the_run() -> None:
    events = event_mix(40, seed=3, run_id="rep")
    text = next(event for event in events if event.kind == "text")
    tx = next(event for event in events if event.kind == "transaction")
    body = orjson.loads(tx.value)
    run = [
        _like(text, text="the app crashed again"),
        _like(text, text="all good today"),
        _like(text, text="the app crashed again"),  # a repeat
        _like(text, text="The app crashed again"),  # another text for the cache: no repeat
        _like(tx, merchant="ACME", description="coffee"),
        _like(tx, merchant="ACME", description="coffee", amount=body["amount"] * 3),  # same model text
        _like(tx, merchant="OTHER", description="coffee"),  # the merchant is part of it
    ]
    shares = repeat_shares(run)
    assert shares.texts_pct == pytest.approx(25.0)
    assert shares.descriptions_pct == pytest.approx(100 / 3)


def test_repeat_shares_of_a_kind_the_run_lacks_are_none() -> None:
    texts_only = [event for event in event_mix(60, seed=2, run_id="t") if event.kind == "text"]
    shares = repeat_shares(texts_only)
    assert shares.descriptions_pct is None and shares.texts_pct is not None
    assert repeat_shares([]).texts_pct is None


def test_the_generators_repeat_more_the_longer_the_run() -> None:
    # Why a cached worker must be reported apart from the uncached model floor.
    short, long = (repeat_shares(event_mix(n, seed=7, run_id="r")) for n in (200, 4000))
    assert short.texts_pct is not None and long.texts_pct is not None
    assert short.descriptions_pct is not None and long.descriptions_pct is not None
    assert long.texts_pct > short.texts_pct and long.descriptions_pct > short.descriptions_pct
    assert long.descriptions_pct > 20
