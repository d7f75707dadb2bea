"""The worker's account-velocity table, live: a burst on one account is named in its alerts, and the
table's changelog carries the history across a worker restart."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.features.velocity import decode_history
from tests.integration.kafka_helpers import produce_many
from tests.integration.workers import MODEL_DIR, Topics, WorkerProcess, collect, values, worker_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MODEL_DIR / "fraud").exists(), reason="models not built: run `make models`"),
]

APACHE_KAFKA = os.environ.get("STREAMGUARD_TEST_BROKER") == "apache-kafka"
T0 = 1_717_200_000_000
MINUTE = 60_000


def card_test(event_id: str, account: str, minute: int) -> dict[str, Any]:
    """A card-testing probe: a tiny online charge at a verification-style descriptor."""
    return {
        "event_id": event_id,
        "account_id": account,
        "amount": 1.0,
        "currency": "USD",
        "merchant": "PAYPAL *VERIFY",
        "description": "card verification",
        "timestamp": T0 + minute * MINUTE,
        "country": "US",
        "channel": "online",
        "mcc": "5734",
    }


def by_account(event: dict[str, Any]) -> tuple[bytes, bytes]:
    # Keyed by account, as producers should: an account's history then lives on one worker.
    return str(event["account_id"]).encode(), orjson.dumps(event)


def velocity_reasons(alert: dict[str, Any]) -> list[str]:
    return [d for reason in alert["reasons"] for d in reason["drivers"] if d.startswith("velocity")]


async def test_a_burst_on_one_account_is_named_in_its_alerts_and_survives_a_restart(
    broker: str, tmp_path: Path
) -> None:
    topics = Topics()
    env = worker_env(broker, topics)
    burst = [card_test(f"burst-{i}", "acct-burst", minute=i) for i in range(5)]
    # The same probes spread over five accounts: same amounts, texts and times, no velocity.
    spread = [card_test(f"spread-{i}", f"acct-spread-{i}", minute=i) for i in range(5)]

    worker = WorkerProcess(env, tmp_path / "worker-1.log")
    try:
        await produce_many(broker, topics.transactions, [by_account(e) for e in burst + spread])
        first = await collect(
            broker,
            [topics.scores_transactions, topics.alerts_fraud],
            lambda rs: sum(r.topic == topics.scores_transactions for r in rs) >= 10,
            timeout_s=120,
            settle_s=2.0,
            alive=worker.assert_alive,
        )
    finally:
        assert worker.stop() == 0

    scores = {s["event_id"]: s for s in values(r for r in first if r.topic == topics.scores_transactions)}
    alerts = {a["event_id"]: a for a in values(r for r in first if r.topic == topics.alerts_fraud)}
    assert set(scores) == {e["event_id"] for e in burst + spread}
    # The model reads velocity: later probes on one account score above the same probes spread out.
    for i in range(2, 5):
        assert scores[f"burst-{i}"]["score"] > scores[f"spread-{i}"]["score"]
    # Alerts say why: the count of earlier transactions on the account in the last 10 minutes.
    assert {f"burst-{i}" for i in range(2, 5)} <= set(alerts)
    for i in range(2, 5):
        (reason,) = velocity_reasons(alerts[f"burst-{i}"])
        assert f"{i} earlier transactions" in reason and "10 min" in reason
    for event_id, alert in alerts.items():
        if event_id.startswith("spread-") or event_id in ("burst-0", "burst-1"):
            assert velocity_reasons(alert) == []

    # The table persisted each account's history to its changelog topic, the latest value last.
    changelog = await collect(
        broker, [f"sg-{topics.prefix}-account-velocity-changelog"], lambda rs: False, timeout_s=3
    )
    latest = {r.key: r.value for r in sorted(changelog, key=lambda r: r.offset)}
    assert [e.event_id for e in decode_history(latest[b"acct-burst"])] == [e["event_id"] for e in burst]

    # A new worker process recovers the table from that changelog and keeps counting.
    restarted = WorkerProcess(env, tmp_path / "worker-2.log")
    try:
        await produce_many(broker, topics.transactions, [by_account(card_test("burst-5", "acct-burst", 5))])
        second = await collect(
            broker,
            [topics.alerts_fraud],
            lambda rs: any(orjson.loads(r.value)["event_id"] == "burst-5" for r in rs),
            timeout_s=120,
            alive=restarted.assert_alive,
        )
    finally:
        restarted.stop()
    # At-least-once: the restarted worker may score burst-5 twice; the alert id is the same.
    found = {a["alert_id"]: a for a in values(second) if a["event_id"] == "burst-5"}
    (alert,) = found.values()
    reasons = velocity_reasons(alert)
    print(f"\nvelocity after a worker restart: {reasons or 'no recovered history'}")
    if APACHE_KAFKA:
        assert len(reasons) == 1 and "5 earlier transactions" in reasons[0]
    else:
        # Tansu under-reports a partition's end offset, so under heavy produce rates Faust may stop
        # reading a changelog early and restore an older history (shared/BROKER.md). This one is a
        # few records on an idle broker: some history must come back (3 of 3 runs restored all 5).
        # The changelog itself is complete (checked above); Apache Kafka restores it exactly.
        assert len(reasons) == 1, "too little velocity history restored for a velocity reason"
