from __future__ import annotations

import faust

from agents.overrides.transport import FastFetchTransport
from bench.naive_app import use_worker_fetch_wait
from pipeline.settings import Settings


def test_the_tuned_naive_app_fetches_with_the_worker_s_waits_instead_of_faust_s() -> None:
    settings = Settings(fetch_max_wait_ms=7, idle_fetch_max_wait_ms=40)
    app = faust.App("naive-tuned-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    assert not isinstance(app.transport, FastFetchTransport)  # Faust's own: 1,500 ms, hard-coded
    use_worker_fetch_wait(app, settings)
    transport = app.transport
    assert isinstance(transport, FastFetchTransport)
    assert (transport.fetch_max_wait_ms, transport.idle_fetch_max_wait_ms) == (7, 40)
