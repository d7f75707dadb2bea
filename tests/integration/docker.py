"""Is a Docker engine reachable for testcontainers? Answered without docker-py (its client leaves a
socket open when the engine is absent: a ResourceWarning, an error in this suite)."""

from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path

# testcontainers' KafkaContainer drives Confluent's image (Apache Kafka 3.9 in cp-kafka 7.9).
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"


def docker_unavailable() -> str | None:
    """Why the container cannot run, or None. Pings the engine over a plain socket: docker-py's
    client leaves a socket open when the engine is absent (a ResourceWarning, an error here)."""
    try:
        from testcontainers.community.kafka import KafkaContainer  # noqa: F401
    except ImportError as exc:
        return f"testcontainers not installed ({exc.name}): pip install testcontainers"
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    parsed = urllib.parse.urlparse(host)
    try:
        if parsed.scheme == "unix":
            if not Path(parsed.path).exists():
                return f"no Docker engine reachable: {parsed.path} does not exist"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(3)
            with sock:
                sock.connect(parsed.path)
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                answer = sock.recv(1024)
        elif parsed.scheme == "tcp" and parsed.hostname and parsed.port:
            with socket.create_connection((parsed.hostname, parsed.port), timeout=3) as sock:
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                answer = sock.recv(1024)
        else:
            return f"DOCKER_HOST={host} is not checked by this test"
    except OSError as exc:
        return f"no Docker engine reachable at {host}: {exc}"
    if b" 200 " not in answer.split(b"\r\n", 1)[0]:
        return f"Docker engine at {host} did not answer /_ping"
    return None
