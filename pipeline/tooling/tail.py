"""``streamguard tail``: print what arrives on a topic (alerts, scores, dead letters, inputs).

Reads without a consumer group, so tailing never moves the worker's offsets. "From now" cannot use the
broker's latest offset: Tansu reports the base offset of the last *batch* plus one, and answers
``offsets_for_times`` with offset 0 when nothing is newer. So each partition starts at the best lower
bound we get and records older than the start of the tail are skipped by their timestamp.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import orjson
from rich.console import Console, Group, RenderableType
from rich.text import Text

log = logging.getLogger(__name__)

SEVERITY_STYLES = {
    "low": "cyan",
    "medium": "yellow",
    "high": "bold red",
    "critical": "bold white on red",
}
_TEXT_PREVIEW_CHARS = 100
# How long the broker may hold a fetch. Tansu sleeps through up to half of it before answering, data
# or not, so a record waits up to about that long: with the 500 ms default of aiokafka and
# librdkafka, alerts reached a subscriber p50 ~130 / p99 ~260 ms after the worker published them.
# 10 ms keeps that hop to a few milliseconds; the cost is an idle consumer polling ~100 times a second
# (a few % of a core for the broker; README, "What a subscriber sees").
FETCH_MAX_WAIT_MS = 10


def render(topic: str, value: dict[str, Any]) -> RenderableType | str:
    """One record for a person. The record's shape decides the layout, so renamed topics still work."""
    if "alert_id" in value and "severity" in value:
        return _render_alert(topic, value)
    if "error" in value and "source" in value:
        return _render_dead_letter(value)
    if "score" in value and "kind" in value:
        return _render_score(value)
    if "text" in value:
        text = " ".join(str(value["text"]).split())
        preview = text if len(text) <= _TEXT_PREVIEW_CHARS else text[: _TEXT_PREVIEW_CHARS - 1] + "…"
        return f"{value.get('event_id', '?')}  [{value.get('source') or 'text'}] {preview}"
    if "amount" in value:
        return (
            f"{value.get('event_id', '?')}  {value.get('account_id', '?')}  "
            f"{_number(value.get('amount'))} {value.get('currency', '')}  {value.get('merchant', '')}"
            f"  {value.get('country') or ''} {value.get('channel') or ''}".rstrip()
        )
    return orjson.dumps(value).decode()


def _render_alert(topic: str, alert: dict[str, Any]) -> RenderableType:
    severity = str(alert.get("severity", "?"))
    line = Text()
    line.append(f" {severity.upper():<8} ", style=SEVERITY_STYLES.get(severity, "bold"))
    line.append(f" {alert.get('kind', topic)} ", style="bold")
    line.append(f"score {_number(alert.get('score'))} ({alert.get('label', '?')})  ")
    line.append(str(alert.get("event_id", "?")), style="bold")
    line.append(f"  {_latency(alert)}", style="dim" if alert.get("sla_met", True) else "red")
    lines: list[RenderableType] = [line]
    for reason in alert.get("reasons") or []:
        detail = Text(f"    • {reason.get('rule', '?')}: {reason.get('detail', '')}")
        drivers = reason.get("drivers") or []
        if drivers:
            detail.append(f"  [{', '.join(str(d) for d in drivers)}]", style="dim")
        lines.append(detail)
    return Group(*lines)


def _render_score(score: dict[str, Any]) -> str:
    return (
        f"{score.get('event_id', '?')}  {score.get('kind', '?')} {_number(score.get('score'))} "
        f"{score.get('label', '?')}  {_latency(score)}"
    )


def _render_dead_letter(record: dict[str, Any]) -> RenderableType:
    error = record.get("error") or {}
    source = record.get("source") or {}
    line = Text()
    line.append(" DEAD LETTER ", style="bold white on grey30")
    line.append(f" {error.get('type', '?')}", style="bold magenta")
    if error.get("field"):
        line.append(f" ({error['field']})")
    line.append(f": {error.get('message', '')}  ")
    line.append(
        f"from {source.get('topic', '?')}[{source.get('partition', '?')}]@{source.get('offset', '?')}",
        style="dim",
    )
    return line


def _latency(record: dict[str, Any]) -> str:
    latency = record.get("latency_ms")
    if not isinstance(latency, int | float):
        return ""
    sla = record.get("sla_ms")
    if sla is None:
        return f"{latency:.1f} ms"
    return f"{latency:.1f} ms " + ("within SLA" if record.get("sla_met") else f"OVER {_number(sla)} ms SLA")


def _number(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


async def tail(
    bootstrap: str,
    topic: str,
    *,
    from_beginning: bool = False,
    limit: int | None = None,
    raw: bool = False,
    security: Mapping[str, Any] | None = None,
) -> None:
    """Print records of ``topic`` until cancelled, or until ``limit`` records were printed.

    ``security``: aiokafka keyword arguments from ``pipeline.kafka.security.aiokafka_security`` (TLS, SASL).
    """
    from aiokafka import AIOKafkaConsumer  # imported here so `streamguard --help` stays instant

    # Records are data, not markup: "[social]" or ":fire:" in a text must print as written.
    console = Console(highlight=False, markup=False, emoji=False)
    consumer = AIOKafkaConsumer(**consumer_options(bootstrap, security))
    started_ms = int(time.time() * 1000)
    await consumer.start()
    try:
        partitions = await _assign_all_partitions(consumer, topic)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
            skip_before_ms = 0
        else:
            await _seek_near(consumer, partitions, started_ms)
            skip_before_ms = started_ms
        printed = 0
        while limit is None or printed < limit:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batches.values():
                for record in records:
                    if record.timestamp < skip_before_ms:
                        continue
                    _print_record(console, topic, record.value, raw)
                    printed += 1
                    if limit is not None and printed >= limit:
                        return
    finally:
        await consumer.stop()


def consumer_options(bootstrap: str, security: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The tail's ``AIOKafkaConsumer`` arguments: no group (tailing never moves the worker's offsets)
    and the short fetch wait of ``FETCH_MAX_WAIT_MS``."""
    return {
        "bootstrap_servers": bootstrap,
        "group_id": None,
        "enable_auto_commit": False,
        "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
        **(security or {}),
    }


async def _assign_all_partitions(consumer: Any, topic: str) -> list[Any]:
    from aiokafka import TopicPartition

    waiting_logged = False
    while True:
        await consumer.topics()  # refreshes metadata
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            return assigned
        if not waiting_logged:
            log.info("topic %s does not exist yet; waiting for it", topic)
            waiting_logged = True
        await asyncio.sleep(0.5)


async def _seek_near(consumer: Any, partitions: list[Any], started_ms: int) -> None:
    """Seek each partition to a lower bound of the first record at or after ``started_ms``."""
    by_time = await consumer.offsets_for_times({tp: started_ms for tp in partitions})
    # Tansu's "latest" is the base offset of the last batch + 1: too small, never too large.
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        found = by_time.get(tp)
        # Tansu answers offset 0 / timestamp -1 instead of "none" when nothing is newer: use the end.
        offset = found.offset if found is not None and found.timestamp >= 0 else ends.get(tp, 0)
        consumer.seek(tp, offset)


def _print_record(console: Console, topic: str, value: bytes | None, raw: bool) -> None:
    if raw:
        sys.stdout.buffer.write((value or b"") + b"\n")
        sys.stdout.flush()
        return
    try:
        decoded = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict):
        console.print(render(topic, decoded))
    else:
        console.print(Text(f"(not a JSON object) {(value or b'')[:200]!r}", style="dim"))
