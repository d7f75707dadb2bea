"""Waiting for a Kafka-compatible broker and creating the topics StreamGuard needs (aiokafka admin)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from pipeline.errors import BrokerError

log = logging.getLogger(__name__)

_RETRY_BACKOFF_S = 0.2


async def wait_for_broker(
    bootstrap: str, timeout_s: float = 30, *, security: Mapping[str, Any] | None = None
) -> None:
    """Return once the cluster answers a metadata request; ``BrokerError`` (retriable) after ``timeout_s``.

    ``security``: aiokafka keyword arguments from ``pipeline.kafka.security.aiokafka_security`` (TLS, SASL).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        admin = _admin(bootstrap, timeout_s, security)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            last_error: Exception = exc
        finally:
            await admin.close()
        if time.monotonic() + _RETRY_BACKOFF_S > deadline:
            raise BrokerError(
                f"no Kafka broker answered at {bootstrap} within {timeout_s:g} s: {last_error!r}",
                retriable=True,
            ) from last_error
        await asyncio.sleep(_RETRY_BACKOFF_S)


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int,
    timeout_s: float = 30,
    *,
    security: Mapping[str, Any] | None = None,
    config: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Create the missing ``topics`` with ``partitions`` partitions, replication factor 1 and ``config``.

    Topics that already exist are left as they are (also when another process creates one at the same
    time). Returns, once every topic shows up in the cluster metadata, each topic's partition count.
    """
    wanted = list(dict.fromkeys(topics))
    if not wanted:
        return {}
    deadline = time.monotonic() + timeout_s
    await wait_for_broker(bootstrap, timeout_s, security=security)
    admin = _admin(bootstrap, timeout_s, security)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            log.info("creating topics %s with %d partitions", ", ".join(missing), partitions)
            response = await admin.create_topics(
                [NewTopic(name, partitions, 1, topic_configs=dict(config or {})) for name in missing],
                timeout_ms=int(timeout_s * 1000),
            )
            _raise_for_topic_errors(response.topic_errors)
        await _wait_until_listed(admin, wanted, deadline)
        return await _partition_counts(admin, wanted, partitions)
    except KafkaError as exc:
        raise BrokerError(f"creating topics on {bootstrap} failed: {exc!r}", retriable=exc.retriable) from exc
    finally:
        await admin.close()


async def delete_topics(
    bootstrap: str,
    chosen: Callable[[str], bool],
    timeout_s: float = 30,
    *,
    security: Mapping[str, Any] | None = None,
) -> list[str]:
    """Delete the existing topics whose name ``chosen`` accepts; returns their names.

    Raises BrokerError if it fails."""
    admin = _admin(bootstrap, timeout_s, security)
    try:
        await admin.start()
        doomed = [name for name in sorted(await admin.list_topics()) if chosen(name)]
        if doomed:
            await admin.delete_topics(doomed, timeout_ms=int(timeout_s * 1000))
        return doomed
    except KafkaError as exc:
        raise BrokerError(f"deleting topics on {bootstrap} failed: {exc!r}", retriable=exc.retriable) from exc
    finally:
        await admin.close()


def _admin(bootstrap: str, timeout_s: float, security: Mapping[str, Any] | None) -> AIOKafkaAdminClient:
    request_timeout_ms = max(1000, min(int(timeout_s * 1000), 40_000))
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms, **(security or {})
    )


def _raise_for_topic_errors(topic_errors: list[tuple[Any, ...]]) -> None:
    for entry in topic_errors:
        topic, code = entry[0], entry[1]
        if code == 0 or code == TopicAlreadyExistsError.errno:
            continue
        error = for_code(code)
        detail = entry[2] if len(entry) > 2 and entry[2] else error.description
        message = f"cannot create topic {topic!r}: {error.message} ({detail})"
        raise BrokerError(message, retriable=error.retriable)


async def _wait_until_listed(admin: AIOKafkaAdminClient, wanted: list[str], deadline: float) -> None:
    while True:
        missing = set(wanted) - set(await admin.list_topics())
        if not missing:
            return
        if time.monotonic() > deadline:
            raise BrokerError(f"topics {sorted(missing)} did not appear in time", retriable=True)
        await asyncio.sleep(_RETRY_BACKOFF_S / 4)


async def _partition_counts(admin: AIOKafkaAdminClient, wanted: list[str], partitions: int) -> dict[str, int]:
    # Existing topics keep their partition count (and Tansu cannot add partitions): say so, don't fail.
    counts = {}
    for description in await admin.describe_topics(wanted):
        topic, count = description.get("topic"), len(description.get("partitions", []))
        counts[topic] = count
        if count and count != partitions:
            log.warning("topic %s has %d partitions, not the configured %d", topic, count, partitions)
    return counts
