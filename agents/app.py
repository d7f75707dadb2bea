"""The Faust application, configured from ``Settings`` for low latency on our broker."""

from __future__ import annotations

import tempfile
from pathlib import Path

import faust

from agents.overrides.transport import FastFetchTransport
from pipeline.kafka.security import faust_credentials
from pipeline.settings import Settings


def create_app(settings: Settings, bootstrap: str, *, web_port: int | None = None) -> faust.App:
    datadir = settings.data_dir or Path(tempfile.mkdtemp(prefix="streamguard-faust-"))
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=faust_credentials(settings),  # TLS / SASL, None for PLAINTEXT
        # Bytes in, bytes out: validation is ours, so a bad message becomes a dead letter instead
        # of a deserialisation error inside Faust.
        key_serializer="raw",
        value_serializer="raw",
        # Tansu rejects idempotent producers, so exactly_once cannot start; outputs are idempotent
        # instead (deterministic ids keyed by event_id).
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_request_timeout=max(30.0, settings.session_timeout_s * 2),
        broker_commit_interval=1.0,
        topic_partitions=settings.partitions,
        topic_allow_declare=False,  # topics are created up front by pipeline.kafka.topics
        stream_wait_empty=True,
        store="memory://",
        datadir=str(datadir),
        # agents.web registers our server with app.web_server and starts it with the app (so the
        # health endpoints answer during the group join); with web_enabled Faust would start it
        # again only after the first rebalance and table recovery.
        web_enabled=False,
        web_host=settings.web_host,
        web_port=web_port if web_port is not None else settings.web_port,
        web_bind=settings.web_host,
        autodiscover=False,
        # Dead letters carry the raw input base64-encoded (4/3 of its size): allow large records.
        producer_max_request_size=16 * 1024 * 1024,
        consumer_max_fetch_size=16 * 1024 * 1024,
    )
    app.transport = FastFetchTransport(
        app.conf.broker_consumer,
        app,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        idle_fetch_max_wait_ms=settings.idle_fetch_max_wait_ms,
    )
    return app
