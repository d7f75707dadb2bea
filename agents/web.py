"""The worker's HTTP server: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz`` and the live dashboard.

The dashboard (``/`` or ``/dashboard``) is a static page from ``agents/static/`` (no asset from the
internet) that follows ``/events``, a server-sent event stream: once a second, the window statistics
of ``pipeline.observability.live.LiveState`` and the alerts added since the last message.
``/api/live`` answers the
same as one JSON document.

An aiohttp server inside a ``mode.Service``. It is registered with ``app.web_server`` (so Faust
knows its URL and does not build its own aiohttp web stack) and added as the app's first
dependency, so it starts before the producer and consumer and stops after them: ``/healthz`` and
``/readyz`` answer during the group join and the shutdown. (Faust itself would start a registered
web server only after the first rebalance and table recovery; ``web_enabled`` stays off so that
late start does not happen too.)

Two workers on one machine run side by side: a taken port moves to the next free one (up to
``PORT_ATTEMPTS`` further), and the URL really served is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import mimetypes
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import faust
import orjson
from aiohttp import web
from mode import Service

from pipeline.hotpath.lane import now_ms
from pipeline.observability.live import LiveState
from pipeline.observability.metrics import CONTENT_TYPE_LATEST, Metrics
from pipeline.settings import Settings

log = logging.getLogger(__name__)

PORT_ATTEMPTS: Final = 20
STATIC_DIR: Final = Path(__file__).with_name("static")
SSE_INTERVAL_S: Final = 1.0
# Open event streams are closed by ``on_stop``; this bounds the wait for any other request.
_SHUTDOWN_TIMEOUT_S: Final = 5.0


class Readiness:
    """Conditions the worker sets as it comes up; ``check`` adds what the Faust app reports."""

    def __init__(self, *conditions: str) -> None:
        self._pending = dict.fromkeys(conditions, False)

    def set(self, condition: str, ok: bool = True) -> None:
        self._pending[condition] = ok

    def check(self, app: faust.App) -> tuple[bool, str]:
        """(ready, reason): ready once every condition holds, the app has started, no rebalance is
        under way and the consumer has partitions assigned."""
        missing = [name for name, ok in self._pending.items() if not ok]
        if missing:
            return False, f"waiting for: {', '.join(missing)}"
        if not app.started:
            return False, "the Faust app is starting"
        if app.rebalancing:
            return False, "the consumer group is rebalancing"
        try:
            assigned = app.consumer.assignment()
        except Exception:  # the consumer thread is not up yet
            return False, "the consumer is starting"
        if not assigned:
            return False, "no partitions assigned to this worker"
        return True, f"{len(assigned)} partitions assigned"


def consumer_lag(consumer: Any) -> dict[tuple[str, int], int]:
    """Messages behind the high watermark per assigned partition: highwater - (last read + 1).

    Partitions with nothing read yet since assignment, or no fetch yet, are left out (unknown).
    Reads the aiokafka consumer's last fetch state behind Faust's transport; nothing is requested.
    """
    try:
        assigned = consumer.assignment()
    except Exception:
        return {}
    read: Mapping[Any, int | None] = consumer._read_offset
    lags: dict[tuple[str, int], int] = {}
    for tp in assigned:
        try:
            highwater = consumer.highwater(tp)
        except Exception:
            continue
        last = read.get(tp)  # a defaultdict: .get does not insert
        if highwater is None or last is None:
            continue
        lags[(tp.topic, tp.partition)] = max(int(highwater) - (last + 1), 0)
    return lags


def bind_free_port(host: str, port: int, attempts: int = PORT_ATTEMPTS) -> socket.socket:
    """A socket bound to ``port``, or to the next free one of ``port + 1 .. port + attempts``."""
    last_error: OSError | None = None
    candidates = [port] if port == 0 else range(port, min(port + attempts, 65535) + 1)
    for candidate in candidates:
        family, kind, proto, _, address = socket.getaddrinfo(host, candidate, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            last_error = exc
            continue
        return sock
    raise OSError(
        errno.EADDRINUSE, f"ports {port}..{port + attempts} on {host} are all taken"
    ) from last_error


class WebServer(Service):
    """Serves the worker's metrics and health endpoints on the app's event loop."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        metrics: Metrics,
        readiness: Readiness,
        live: LiveState | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.faust_app = app
        self.settings = settings
        self.metrics = metrics
        self.readiness = readiness
        self.live = live if live is not None else LiveState()
        self._static = _load_static(STATIC_DIR)
        self._closing: asyncio.Event | None = None
        self.driver_version = "aiohttp"
        self.web_url: str | None = None
        self._runner: web.AppRunner | None = None

    def get_web_url(self) -> str:
        return self.web_url or f"http://{self.settings.web_host}:{self.settings.web_port}/"

    async def on_start(self) -> None:
        routes = web.Application()
        routes.router.add_get("/metrics", self._metrics)
        routes.router.add_get("/healthz", self._healthz)
        routes.router.add_get("/readyz", self._readyz)
        routes.router.add_get("/", self._dashboard)
        routes.router.add_get("/dashboard", self._dashboard)
        routes.router.add_get("/static/{name}", self._static_file)
        routes.router.add_get("/events", self._events)
        routes.router.add_get("/api/live", self._live_json)
        self._closing = asyncio.Event()
        runner = web.AppRunner(
            routes, access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        sock = bind_free_port(self.settings.web_host, self.settings.web_port)
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.web_url = f"http://{shown}:{port}/"
        if self.settings.web_port not in (0, port):
            log.warning("web port %d is taken; serving on %d", self.settings.web_port, port)
        log.info("metrics at %smetrics (health %shealthz, ready %sreadyz)", *(self.web_url,) * 3)
        log.info("dashboard at %s", self.web_url)

    async def on_stop(self) -> None:
        if self._closing is not None:
            self._closing.set()  # ends the open event streams
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        self.metrics.set_consumer_lag(consumer_lag(self.faust_app.consumer))
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, reason = self.readiness.check(self.faust_app)
        return web.json_response({"ready": ready, "reason": reason}, status=200 if ready else 503)

    # -- dashboard ---------------------------------------------------------------------------
    async def _dashboard(self, request: web.Request) -> web.Response:
        return self._static_response("index.html")

    async def _static_file(self, request: web.Request) -> web.Response:
        return self._static_response(request.match_info["name"])

    def _static_response(self, name: str) -> web.Response:
        found = self._static.get(name)  # only files present at start: no path is ever joined
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})

    def _live_payload(self, since_seq: int) -> dict[str, Any]:
        ready, reason = self.readiness.check(self.faust_app)
        return {
            "worker": {
                "app_id": self.settings.app_id,
                "url": self.get_web_url(),
                "ready": ready,
                "reason": reason,
                "sla_ms": self.settings.sla_ms,
            },
            "stats": self.live.snapshot(now_ms()),
            "alerts": self.live.alerts_since(since_seq),
        }

    async def _live_json(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(self._live_payload(0)), content_type="application/json")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: an ``update`` a second; its id is the newest alert's sequence number,
        so a reconnecting browser (``Last-Event-ID``) gets only the alerts it has not seen."""
        closing = self._closing
        assert closing is not None, "started"
        try:
            since = int(request.headers.get("Last-Event-ID", "0"))
        except ValueError:
            since = 0
        if since > self.live.last_alert_seq:  # a stream from before this worker restarted
            since = 0
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        try:
            await response.write(b"retry: 2000\n\n")
            while not closing.is_set():
                payload = self._live_payload(since)
                since = payload["stats"]["last_alert_seq"]
                data = orjson.dumps(payload)
                await response.write(b"id: %d\nevent: update\ndata: %s\n\n" % (since, data))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closing.wait(), SSE_INTERVAL_S)
        except ConnectionError:  # the browser went away
            pass
        return response


def _load_static(directory: Path) -> dict[str, tuple[bytes, str]]:
    """The dashboard's files by name, read once: (content, content type)."""
    files: dict[str, tuple[bytes, str]] = {}
    if not directory.is_dir():
        log.warning("no dashboard files in %s", directory)
        return files
    for path in sorted(directory.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if content_type.startswith("text/") or content_type.endswith(("javascript", "json", "svg+xml")):
                content_type += "; charset=utf-8"
            files[path.name] = (path.read_bytes(), content_type)
    return files


def install_web_server(
    app: faust.App,
    settings: Settings,
    metrics: Metrics,
    readiness: Readiness,
    live: LiveState | None = None,
) -> WebServer:
    """Register the server with the app; it starts first and stops last with it."""
    server = WebServer(app, settings, metrics, readiness, live)  # takes the app's loop when started
    app.web_server(server)
    app.add_dependency(server)
    return server
