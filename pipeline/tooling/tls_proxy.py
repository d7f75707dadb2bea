"""TLS in front of the embedded broker: accepts TLS on a port and relays plain bytes to Tansu.

Tansu 0.6.0 cannot serve TLS itself: its ``--cert`` and ``--key`` flags sit in one clap argument group,
so they cannot be given together, and the broker builds a TLS acceptor it never uses. For tests and
local runs against a TLS client configuration, this terminator runs in a thread of the process that
owns the broker. Production brokers (Apache Kafka) terminate TLS themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


class TlsTerminator:
    """Listen with TLS on ``host:port``; relay each connection to ``upstream_host:upstream_port``."""

    def __init__(
        self, host: str, port: int, upstream_host: str, upstream_port: int, cert_path: Path, key_path: Path
    ) -> None:
        self.host, self.port = host, port
        self.upstream = (upstream_host, upstream_port)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(str(cert_path), str(key_path))  # errors surface in start()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def start(self, timeout_s: float = 5) -> None:
        """Listen, or raise ``OSError`` (port taken, ...) from the thread's attempt."""
        started = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(started, failure), name=f"tls-terminator-{self.port}", daemon=True
        )
        self._thread.start()
        if not started.wait(timeout_s):
            raise OSError(f"TLS terminator on {self.host}:{self.port} did not start in {timeout_s:g} s")
        if failure:
            self._thread.join()
            raise failure[0]

    def stop(self, timeout_s: float = 5) -> None:
        """Close the listener and every relayed connection. Safe to call twice."""
        loop, thread = self._loop, self._thread
        self._thread = None
        if loop is None or thread is None:
            return
        if thread.is_alive() and self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout_s)

    def _run(self, started: threading.Event, failure: list[BaseException]) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve(started, failure))
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
            started.set()

    async def _serve(self, started: threading.Event, failure: list[BaseException]) -> None:
        self._stopping = asyncio.Event()
        try:
            server = await asyncio.start_server(self._relay, self.host, self.port, ssl=self._context)
        except OSError as exc:
            failure.append(exc)
            return
        started.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await server.wait_closed()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            log.debug("TLS relay connection ended: %r", exc)
        finally:
            self._connections.discard(task)
            for writer in (upstream_writer, client_writer):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
    finally:
        # One side ended: end the other too, so the partner pipe returns.
        writer.close()
