from __future__ import annotations

from agents.overrides.transport import IDLE_AFTER_S, fetch_wait_ms


def test_the_short_wait_holds_while_records_flow() -> None:
    assert fetch_wait_ms(0.0, busy_ms=5, idle_ms=25) == 5
    assert fetch_wait_ms(IDLE_AFTER_S * 0.9, busy_ms=5, idle_ms=25) == 5


def test_an_idle_consumer_waits_longer_per_fetch() -> None:
    assert fetch_wait_ms(IDLE_AFTER_S, busy_ms=5, idle_ms=25) == 25
    assert fetch_wait_ms(3600.0, busy_ms=5, idle_ms=25) == 25


def test_the_idle_wait_is_never_shorter_than_the_busy_one() -> None:
    assert fetch_wait_ms(60.0, busy_ms=50, idle_ms=5) == 50
