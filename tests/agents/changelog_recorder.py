"""Recording what a Faust table sends to its changelog, for tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

Sent = list[tuple[Any, bytes, bytes]]


def record_changelog(table: Any) -> Sent:
    """The changelog records ``table`` sends from now on, recorded instead of produced."""
    sent: Sent = []

    def send_changelog(partition: int | None, key: bytes, value: bytes | None, *_: Any, **__: Any) -> Any:
        sent.append((partition, key, value))
        return SimpleNamespace(message=SimpleNamespace(partition=0))  # as Faust's FutureMessage

    table.send_changelog = send_changelog
    return sent
