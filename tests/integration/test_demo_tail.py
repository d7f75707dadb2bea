"""`streamguard produce` and `streamguard tail` against the real embedded broker."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest

from pipeline.kafka.topics import ensure_topics
from pipeline.settings import Settings
from pipeline.tooling.demo import demo_messages, produce
from pipeline.tooling.demo import log as demo_log
from pipeline.tooling.tail import tail

from .kafka_helpers import consume_all, produce_many

pytestmark = pytest.mark.integration


def _settings() -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings(topic_transactions=f"tx-{suffix}", topic_texts=f"texts-{suffix}", demo_bad_ratio=0.05)


async def test_produce_sends_count_messages_paced_by_rate(broker: str) -> None:
    settings = _settings()
    await ensure_topics(broker, settings.input_topics, partitions=2)
    started = time.monotonic()
    sent = await produce(settings, broker, rate=400, count=200, seed=1)
    elapsed = time.monotonic() - started
    assert sent == 200
    assert elapsed >= 0.45  # 200 messages at 400/s are due over 0.5 s: paced, not dumped at once

    expected = Counter(topic for topic, _, _ in itertools.islice(demo_messages(settings, seed=1), 200))
    tx_topic, text_topic = settings.input_topics
    transactions = await consume_all(broker, tx_topic, expected[tx_topic], timeout_s=5)
    texts = await consume_all(broker, text_topic, expected[text_topic], timeout_s=5)
    assert len(transactions) == expected[tx_topic] > len(texts) > 0
    assert len(transactions) + len(texts) == 200


async def test_produce_replays_a_jsonl_file(broker: str, tmp_path: Path) -> None:
    settings = _settings()
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"event_id": "a", "amount": 1}\nnot json\n{"event_id": "b", "text": "hi"}\n')
    replay_topic = "replay-" + uuid.uuid4().hex
    sent = await produce(settings, broker, rate=1000, count=None, file=path, topic=replay_topic)
    assert sent == 3
    sent = await produce(settings, broker, rate=1000, count=None, file=path)
    assert sent == 3
    texts = await consume_all(broker, settings.topic_texts, expected=1, timeout_s=5)
    assert [r.key for r in texts] == [b"b"]


async def test_tail_from_beginning_prints_raw_lines(broker: str, capfd: pytest.CaptureFixture[str]) -> None:
    topic = "tail-raw-" + uuid.uuid4().hex[:8]
    values = [orjson.dumps({"event_id": f"e{i}", "text": f"hello {i}"}) for i in range(5)]
    await produce_many(broker, topic, [(None, v) for v in values])
    await asyncio.wait_for(tail(broker, topic, from_beginning=True, limit=5, raw=True), 10)
    printed = capfd.readouterr().out.splitlines()
    assert sorted(printed) == sorted(v.decode() for v in values)


async def test_tail_from_now_skips_history(broker: str, capfd: pytest.CaptureFixture[str]) -> None:
    topic = "tail-now-" + uuid.uuid4().hex[:8]
    await ensure_topics(broker, [topic], partitions=2)
    old = [(None, orjson.dumps({"event_id": f"old-{i}", "text": "old"})) for i in range(300)]
    await produce_many(broker, topic, old)
    capfd.readouterr()

    tailing = asyncio.create_task(tail(broker, topic, limit=3))
    # No waiting for its seek: the tail starts from the time of its first step (this yield), so the
    # new records count even when they arrive before it has seeked.
    await asyncio.sleep(0.002)
    new = [(None, orjson.dumps({"event_id": f"new-{i}", "text": "new"})) for i in range(3)]
    await produce_many(broker, topic, new)
    await asyncio.wait_for(tailing, 10)

    printed = capfd.readouterr().out
    assert "old-" not in printed
    assert all(f"new-{i}" in printed for i in range(3))


async def test_produce_forever_flushes_on_cancel(broker: str, caplog: pytest.LogCaptureFixture) -> None:
    """Every message handed to the producer before the cancel is in its topic afterwards."""
    settings = _settings()
    caplog.set_level(logging.INFO, logger=demo_log.name)
    # Created first: on Tansu, a reader started before the topic existed read nothing in 15 s.
    await ensure_topics(broker, [settings.topic_transactions, settings.topic_texts], partitions=2)
    producing = asyncio.create_task(produce(settings, broker, rate=500, count=None, seed=2))
    # Cancelled mid-stream: once records arrive, not after a fixed time.
    started = await consume_all(broker, settings.topic_transactions, expected=50, timeout_s=30)
    assert len(started) >= 50
    producing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await producing
    (sent,) = [r.args[0] for r in caplog.records if str(r.msg).startswith("sent %d messages")]  # type: ignore[index]
    per_topic = Counter(topic for topic, _, _ in itertools.islice(demo_messages(settings, 2), sent))
    assert sent > len(started) and set(per_topic) <= {settings.topic_transactions, settings.topic_texts}
    for topic, expected in per_topic.items():
        records = await consume_all(broker, topic, expected=expected + 1, timeout_s=3)
        assert len(records) == expected, topic  # none lost in the queue, none sent twice
