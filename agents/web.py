"""The worker's HTTP server: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

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

import errno
import logging
import socket
from collections.abc import Mapping
from typing import Any, Final

import faust
from aiohttp import web
from mode import Service

from pipeline.metrics import CONTENT_TYPE_LATEST, Metrics
from pipeline.settings import Settings

log = logging.getLogger(__name__)

PORT_ATTEMPTS: Final = 20


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
        self, app: faust.App, settings: Settings, metrics: Metrics, readiness: Readiness, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.faust_app = app
        self.settings = settings
        self.metrics = metrics
        self.readiness = readiness
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
        runner = web.AppRunner(routes, access_log=None, handle_signals=False)
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

    async def on_stop(self) -> None:
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


def install_web_server(
    app: faust.App, settings: Settings, metrics: Metrics, readiness: Readiness
) -> WebServer:
    """Register the server with the app; it starts first and stops last with it."""
    server = WebServer(app, settings, metrics, readiness)  # takes the app's loop when started
    app.web_server(server)
    app.add_dependency(server)
    return server
