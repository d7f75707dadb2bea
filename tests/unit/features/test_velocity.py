from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from pipeline.features.model_inputs import (
    FEATURE_NAMES,
    feature_drivers,
    observe_velocity,
    replay_velocities,
    transaction_features,
)
from pipeline.features.velocity import (
    LONG_WINDOW_MS,
    MAX_HISTORY,
    NO_HISTORY,
    SHORT_WINDOW_MS,
    VELOCITY_FEATURE_NAMES,
    Velocity,
    decode_history,
    velocity_drivers,
)
from schemas.transaction import Transaction
from tests.unit.event_factories import make_tx

T0 = 1_717_200_000_000.0
MINUTE = 60_000


def tx(event_id: str, minutes: float, amount: float = 10.0, account: str = "acct-1") -> Transaction:
    return make_tx(
        event_id=event_id, account_id=account, amount=amount, currency="USD", timestamp=T0 + minutes * MINUTE
    )


def run(*txs: Transaction) -> list[Velocity]:
    history: bytes | None = None
    out = []
    for t in txs:
        velocity, history = observe_velocity(history, t)
        out.append(velocity)
    return out


def test_a_first_transaction_has_no_history() -> None:
    assert run(tx("a", 0)) == [NO_HISTORY]


def test_counts_and_sums_earlier_transactions_in_each_window() -> None:
    velocities = run(tx("a", 0, 1.0), tx("b", 5, 2.0), tx("c", 30, 4.0), tx("d", 35, 8.0))
    assert velocities[1] == Velocity(1, 1.0, 1, 1.0)
    # "a" and "b" are 30 and 25 minutes old for "c": out of the 10-minute window, inside the hour.
    assert velocities[2] == Velocity(0, 0.0, 2, 3.0)
    assert velocities[3] == Velocity(1, 4.0, 3, 7.0)


def test_window_edges_are_inclusive_and_old_activity_is_forgotten() -> None:
    at_edge = run(tx("a", 0), tx("b", SHORT_WINDOW_MS / MINUTE))[1]
    assert at_edge.count_10m == 1
    forgotten = run(tx("a", 0), tx("b", LONG_WINDOW_MS / MINUTE + 1))[1]
    assert forgotten == NO_HISTORY


def test_a_redelivered_event_does_not_count_itself() -> None:
    # At-least-once: after a crash the same event is consumed again.
    first, again = run(tx("a", 0), tx("a", 0))
    assert first == again == NO_HISTORY
    _, _, third = run(tx("a", 0), tx("a", 0), tx("b", 1))
    assert third.count_10m == 1


def test_a_late_event_sees_only_what_came_before_it_in_event_time() -> None:
    late = run(tx("a", 20), tx("b", 5))[1]
    assert late == NO_HISTORY  # "a" happened after "b"
    after_both = run(tx("a", 20), tx("b", 5), tx("c", 21))[2]
    assert (after_both.count_10m, after_both.count_1h) == (1, 2)


def test_history_is_bounded() -> None:
    burst = [tx(f"e{i}", i / 100) for i in range(MAX_HISTORY + 40)]
    history: bytes | None = None
    for t in burst:
        velocity, history = observe_velocity(history, t)
    assert velocity.count_10m == MAX_HISTORY  # saturates instead of growing
    assert len(decode_history(history)) == MAX_HISTORY


def test_an_unreadable_stored_value_counts_as_no_history() -> None:
    for raw in (b"not json", b'{"a": 1}', b"[[1, 2]]", b"", None):
        velocity, history = observe_velocity(raw, tx("a", 0))
        assert velocity == NO_HISTORY
        assert len(decode_history(history)) == 1


@given(
    st.lists(
        st.tuples(st.integers(0, 200), st.floats(0, 5_000), st.sampled_from(["x", "y"])),
        max_size=40,
    )
)
def test_replay_matches_a_brute_force_count(rows: list[tuple[int, float, str]]) -> None:
    txs = [tx(f"e{i}", minutes, amount, account) for i, (minutes, amount, account) in enumerate(rows)]
    replayed = replay_velocities(txs)
    # replay sees events in time order (a stable sort: ties in input order)
    order = sorted(range(len(txs)), key=lambda i: txs[i].timestamp)
    position = {index: rank for rank, index in enumerate(order)}
    for i, t in enumerate(txs):
        earlier = [
            o
            for j, o in enumerate(txs)
            if o.account_id == t.account_id and position[j] < position[i] and t.timestamp >= o.timestamp
        ]
        in_hour = [o for o in earlier if t.timestamp - o.timestamp <= LONG_WINDOW_MS]
        in_10m = [o for o in earlier if t.timestamp - o.timestamp <= SHORT_WINDOW_MS]
        got = replayed[i]
        assert (got.count_10m, got.count_1h) == (len(in_10m), len(in_hour))
        assert math.isclose(got.usd_1h, sum(round(o.amount, 2) for o in in_hour), abs_tol=0.05)


def test_velocity_reaches_the_feature_vector() -> None:
    velocity = Velocity(3, 6.0, 5, 120.0)
    vector = transaction_features(tx("a", 0), velocity)
    start = FEATURE_NAMES.index(VELOCITY_FEATURE_NAMES[0])
    assert list(vector[start:]) == [
        math.log1p(3),
        math.log1p(6.0),
        math.log1p(5),
        math.log1p(120.0),
    ]
    assert not transaction_features(tx("a", 0))[start:].any()  # no table: no known activity


def test_velocity_is_named_in_alert_reasons_only_when_unusual() -> None:
    assert velocity_drivers(NO_HISTORY) == []
    assert velocity_drivers(Velocity(1, 10.0, 1, 10.0)) == []
    burst = velocity_drivers(Velocity(4, 5.5, 4, 5.5))
    assert burst and "4 earlier transactions" in burst[0] and "10 min" in burst[0]
    busy_hour = velocity_drivers(Velocity(0, 0.0, 2, 2_000.0))
    assert busy_hour and "1 h" in busy_hour[0] and "2,000.00" in busy_hour[0]
    assert burst[0] in feature_drivers(tx("a", 0), Velocity(4, 5.5, 4, 5.5))
