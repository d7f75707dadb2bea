"""``streamguard worker`` that loses one fetched input record on its way to the agent, once: the
failure the gap guard repairs (``agents.overrides.gaps``), run as
``python -m tests.integration.lossy_worker``.

``STREAMGUARD_TEST_DROP`` ("partition:offset" of the transactions topic) is read here, by the
test helper, never by the product.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from faust.transport import consumer as faust_consumer

from pipeline import cli


def main() -> int:
    partition, offset = (int(part) for part in os.environ["STREAMGUARD_TEST_DROP"].split(":"))
    topic = os.environ["STREAMGUARD_TOPIC_TRANSACTIONS"]
    original = faust_consumer.Consumer.getmany
    dropped = False

    async def getmany(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        nonlocal dropped
        async for tp, message in original(self, timeout):
            if not dropped and (tp.topic, tp.partition, message.offset) == (topic, partition, offset):
                dropped = True
                print(f"lossy worker: dropped {topic}-{partition}@{offset}", flush=True)
                continue
            yield tp, message

    faust_consumer.Consumer.getmany = getmany  # type: ignore[method-assign]
    return cli.main(["worker"])


if __name__ == "__main__":
    sys.exit(main())
