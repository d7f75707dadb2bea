"""``streamguard worker`` whose dead letters the producer refuses, every time: the failure that used
to stall a partition silently, run as ``python -m tests.integration.undeliverable_worker``.

The send raises aiokafka's ``MessageSizeTooLargeError`` (what it raises for a record over its size
limit; not retriable), and the retry delays are shortened so the test does not wait ~15 s. Both are
set here, by the test helper, never by the product.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError

from agents.score_agents import Publisher
from pipeline import cli
from pipeline.hotpath import lane


def main() -> int:
    refused_topic = os.environ["STREAMGUARD_TOPIC_DEADLETTER"]
    original = Publisher.send

    async def send(
        self: Publisher,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[Any]:
        if topic == refused_topic:
            raise MessageSizeTooLargeError(
                f"injected: the producer refuses every dead letter ({len(value)} B)"
            )
        return await original(self, topic, key, value, headers)

    Publisher.send = send  # type: ignore[method-assign]
    lane.PUBLISH_RETRY_DELAYS_S = (0.2, 0.4)
    return cli.main(["worker"])


if __name__ == "__main__":
    sys.exit(main())
