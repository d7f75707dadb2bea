"""pipeline.tooling.demo: every malformed kind is really invalid; the demo stream is valid, mixed, seeded."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from pipeline.settings import Settings
from pipeline.synthetic.transactions import generate_transactions
from pipeline.tooling.demo import (
    EXPECTED_FAILURE_TYPE,
    MALFORMED_KINDS,
    demo_messages,
    file_messages,
    malformed_message,
)
from schemas import TextEvent, Transaction

SETTINGS = Settings(demo_bad_ratio=0.1)
SEEDS = range(25)


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_each_malformed_kind_fails_validation(kind: str) -> None:
    bases = [event for event, _ in generate_transactions(len(SEEDS), seed=1)]
    for seed, base in zip(SEEDS, bases, strict=True):
        value = malformed_message(kind, random.Random(seed), base)
        with pytest.raises(ValidationError):
            Transaction.model_validate_json(value)
        Transaction.model_validate(base)  # the base itself was not modified


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_each_malformed_kind_is_the_failure_validation_reports(kind: str) -> None:
    from pipeline.ingest.validation import Failure, decode_event

    for seed in SEEDS:
        value = malformed_message(kind, random.Random(seed))
        result = decode_event(value, Transaction, max_bytes=SETTINGS.max_message_bytes)
        assert isinstance(result, Failure), value[:80]
        assert result.type == EXPECTED_FAILURE_TYPE[kind], (value[:80], result)


def test_unknown_malformed_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown malformed kind"):
        malformed_message("cosmic_ray", random.Random(0))


def test_demo_stream_is_valid_mixed_and_keyed() -> None:
    messages = list(itertools.islice(demo_messages(SETTINGS, seed=3), 5_000))
    topics = Counter(topic for topic, _, _ in messages)
    assert set(topics) == {SETTINGS.topic_transactions, SETTINGS.topic_texts}
    assert 0.55 < topics[SETTINGS.topic_transactions] / len(messages) < 0.65

    bad = 0
    for topic, key, value in messages:
        model = Transaction if topic == SETTINGS.topic_transactions else TextEvent
        try:
            event = model.model_validate_json(value)
        except ValidationError:
            bad += 1
            continue
        expected = event.account_id if isinstance(event, Transaction) else event.event_id
        assert key == expected.encode()  # an account's transactions share a partition
    assert 0.07 < bad / len(messages) < 0.13  # demo_bad_ratio = 0.1

    ids = [orjson.loads(value)["event_id"] for topic, _, value in messages if _is_valid(topic, value)]
    assert len(ids) == len(set(ids))


def test_demo_stream_is_seeded_and_live_timestamps_are_now() -> None:
    def first(seed: int) -> list[tuple[str, bytes | None, bytes]]:
        return list(itertools.islice(demo_messages(SETTINGS, seed, clock=None), 300))

    assert first(1) == first(1)
    assert first(1) != first(2)
    live = itertools.islice(demo_messages(SETTINGS, 1, clock=lambda: 1_800_000_000.0), 50)
    stamps = {orjson.loads(v)["timestamp"] for t, _, v in live if _is_valid(t, v)}
    assert stamps == {1_800_000_000_000}


def test_live_demo_accounts_burst_only_in_fraud_episodes() -> None:
    # Replayed in real time, 90 synthetic days of one account's shopping would look like a burst.
    live = itertools.islice(demo_messages(Settings(demo_bad_ratio=0.0), seed=0), 3_000)
    accounts = Counter(
        orjson.loads(value)["account_id"] for topic, _, value in live if topic == SETTINGS.topic_transactions
    )
    repeated = sum(count for count in accounts.values() if count > 1)
    assert 0 < repeated < 0.1 * sum(accounts.values())


def test_demo_stream_crosses_chunk_boundaries_with_unique_ids() -> None:
    messages = itertools.islice(demo_messages(Settings(demo_bad_ratio=0.0), seed=0), 7_000)
    ids = [orjson.loads(value)["event_id"] for _, _, value in messages]
    assert len(ids) == len(set(ids))


def test_file_messages_route_by_shape_or_to_the_given_topic(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b'{"event_id": "t1", "text": "app down", "timestamp": 1}\n'
        b'{"event_id": "x1", "amount": 5}\n'
        b'{"event_id": "x2", "account_id": "acct-9", "amount": 5}\n'
        b"\n"
        b"not json at all\r\n"
    )
    routed = list(file_messages(SETTINGS, path))
    assert routed == [
        (SETTINGS.topic_texts, b"t1", b'{"event_id": "t1", "text": "app down", "timestamp": 1}'),
        (SETTINGS.topic_transactions, b"x1", b'{"event_id": "x1", "amount": 5}'),
        # keyed by account: one account's transactions share a partition (velocity table)
        (SETTINGS.topic_transactions, b"acct-9", b'{"event_id": "x2", "account_id": "acct-9", "amount": 5}'),
        (SETTINGS.topic_transactions, None, b"not json at all"),
    ]
    assert {topic for topic, _, _ in file_messages(SETTINGS, path, topic="elsewhere")} == {"elsewhere"}


def _is_valid(topic: str, value: bytes) -> bool:
    model = Transaction if topic == SETTINGS.topic_transactions else TextEvent
    try:
        model.model_validate_json(value)
    except ValidationError:
        return False
    return True
