"""A real Tansu broker for the whole integration session, started only when a test asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap string ("127.0.0.1:PORT") of an embedded broker on a free port."""
    log_path = tmp_path_factory.mktemp("broker") / "tansu.log"
    embedded = EmbeddedBroker(port=0, log_path=log_path)
    bootstrap = embedded.start()
    try:
        yield bootstrap
    finally:
        embedded.stop()
