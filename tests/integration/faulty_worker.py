"""``streamguard worker`` whose fraud model raises after a number of batches: a stand-in for a bug
that kills a lane, run as ``python -m tests.integration.faulty_worker`` by the integration tests.

``STREAMGUARD_TEST_FAIL_AFTER_BATCHES`` is read here, by the test helper, never by the product.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pipeline import cli
from pipeline.records.scorers import FraudScorer


class InjectedFailure(RuntimeError):
    pass


def main() -> int:
    fail_after = int(os.environ["STREAMGUARD_TEST_FAIL_AFTER_BATCHES"])
    original = FraudScorer.infer
    calls = 0

    def infer(self: FraudScorer, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > fail_after:
            raise InjectedFailure(f"injected failure in fraud batch {calls}")
        return original(self, *args, **kwargs)

    FraudScorer.infer = infer  # type: ignore[method-assign]
    return cli.main(["worker"])


if __name__ == "__main__":
    sys.exit(main())
