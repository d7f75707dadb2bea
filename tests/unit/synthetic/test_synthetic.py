"""pipeline.synthetic.transactions: schema-valid, seeded, fraud rate as requested, every typology present."""

from __future__ import annotations

import collections
import re

import pytest

from pipeline.synthetic import catalog
from pipeline.synthetic.transactions import (
    TYPOLOGIES,
    generate_labelled_texts,
    generate_texts,
    generate_transactions,
    generate_transactions_detailed,
)
from schemas import TextEvent, Transaction


@pytest.fixture(scope="module")
def transactions() -> list[tuple[dict[str, object], int]]:
    return generate_transactions(20_000, seed=11)


def test_every_transaction_validates(transactions: list[tuple[dict[str, object], int]]) -> None:
    for event, label in transactions:
        Transaction.model_validate(event)
        assert label in (0, 1)


def test_shifted_transactions_validate_and_use_other_merchants() -> None:
    normal = {event["merchant"] for event, _ in generate_transactions(5_000, seed=1)}
    shifted_rows = generate_transactions(5_000, seed=1, shifted=True)
    for event, _ in shifted_rows:
        Transaction.model_validate(event)
    shifted = {event["merchant"] for event, _ in shifted_rows}
    # Legitimate holds ("PAYPAL *VERIFY") and payroll names are shared on purpose; most names are not.
    assert len(shifted & normal) < 0.3 * len(shifted)


_CITIES = sorted(
    {city for _, _, cities in catalog.HOMES for city in cities} | set(catalog.TRAVEL_CITIES.values()),
    key=len,
    reverse=True,
)
_REF = re.compile(r"\b(?=[0-9A-Fa-f]*\d)[0-9A-Fa-f]{6,}\b|\d+")


def description_template(event: dict[str, object]) -> str:
    """The template a description was written from: merchant, employer, city, name and refs blanked."""
    text, merchant = str(event["description"]), str(event["merchant"])
    for form in sorted(
        {merchant, merchant.upper(), merchant.upper().replace(" ", "")}, key=len, reverse=True
    ):
        text = text.replace(form, "<m>")
    for employer in catalog.EMPLOYERS:
        text = text.replace(employer, "<m>").replace(employer.upper().replace(" ", ""), "<m>")
    for city in _CITIES:
        text = text.replace(city.upper(), "<city>").replace(city, "<city>")
    for name in catalog.NAMES:
        text = text.replace(name, "<name>")
    return _REF.sub("<ref>", text)


def test_the_shifted_set_holds_out_every_description_template() -> None:
    normal = collections.Counter(description_template(e) for e, _ in generate_transactions(20_000, seed=1))
    shifted = collections.Counter(
        description_template(e) for e, _ in generate_transactions(20_000, seed=1, shifted=True)
    )
    assert len(normal) > 60 and len(shifted) > 60  # the blanking left templates, not whole texts
    assert not normal.keys() & shifted.keys()


def test_the_shifted_set_holds_typology_variants_training_never_sees() -> None:
    def by_typology(shifted: bool) -> dict[str, list[dict[str, object]]]:
        rows = generate_transactions_detailed(20_000, 3, fraud_rate=0.1, shifted=shifted, label_noise=0.0)
        grouped: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
        for row in rows:
            grouped[row.typology].append(row.event)
        return grouped

    def night_share(events: list[dict[str, object]]) -> float:
        return sum(int(e["timestamp"]) // 3_600_000 % 24 < 6 for e in events) / len(events)  # type: ignore[call-overload]

    def shortest_gap_ms(events: list[dict[str, object]]) -> int:
        times: dict[object, list[int]] = collections.defaultdict(list)
        for e in events:
            times[e["account_id"]].append(int(e["timestamp"]))  # type: ignore[call-overload]
        return min(b - a for ts in times.values() for a, b in zip(sorted(ts), sorted(ts)[1:], strict=False))

    normal, shifted = by_typology(False), by_typology(True)
    assert night_share(normal["account_takeover"]) > 0.9 and night_share(shifted["account_takeover"]) < 0.5
    assert (
        shortest_gap_ms(normal["card_testing"])
        < 360_000
        <= 600_000
        <= shortest_gap_ms(shifted["card_testing"])
    )


def test_event_ids_are_unique_and_rows_in_time_order(
    transactions: list[tuple[dict[str, object], int]],
) -> None:
    ids = [event["event_id"] for event, _ in transactions]
    assert len(set(ids)) == len(ids)
    times = [event["timestamp"] for event, _ in transactions]
    assert times == sorted(times)
    assert all(isinstance(t, int) for t in times)


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    assert generate_transactions(2_000, seed=5) == generate_transactions(2_000, seed=5)
    assert generate_transactions(2_000, seed=5) != generate_transactions(2_000, seed=6)
    assert generate_texts(500, seed=5) == generate_texts(500, seed=5)
    assert generate_texts(500, seed=5) != generate_texts(500, seed=6)


@pytest.mark.parametrize("fraud_rate", [0.0, 0.01, 0.05, 0.2])
def test_fraud_rate_is_as_requested(fraud_rate: float) -> None:
    rows = generate_transactions(10_000, seed=3, fraud_rate=fraud_rate)
    assert len(rows) == 10_000
    assert sum(label for _, label in rows) == round(10_000 * fraud_rate)


def test_label_noise_flips_both_ways() -> None:
    rows = generate_transactions_detailed(20_000, seed=4, fraud_rate=0.05, label_noise=0.02)
    missed_fraud = sum(1 for row in rows if row.typology != "legit" and row.label == 0)
    false_alarm = sum(1 for row in rows if row.typology == "legit" and row.label == 1)
    assert missed_fraud == false_alarm == round(1_000 * 0.02)
    clean = generate_transactions_detailed(5_000, seed=4, label_noise=0.0)
    assert all(row.label == (row.typology != "legit") for row in clean)


def test_every_typology_is_present_with_its_signature() -> None:
    rows = generate_transactions_detailed(20_000, seed=8, label_noise=0.0)
    by_typology = collections.defaultdict(list)
    for row in rows:
        by_typology[row.typology].append(row.event)
    assert set(by_typology) == {"legit", *TYPOLOGIES}

    card_testing = by_typology["card_testing"]
    assert all(e["amount"] < 3 * 10 and e["channel"] == "online" for e in card_testing)
    per_account = collections.Counter(e["account_id"] for e in card_testing)
    assert max(per_account.values()) >= 3  # bursts on one account

    takeovers = by_typology["account_takeover"]
    assert all(e["amount"] >= 900 for e in takeovers if e["currency"] in ("USD", "EUR", "GBP"))
    assert all((e["timestamp"] // 3_600_000) % 24 < 8 for e in takeovers)  # night, bursts may spill

    cash_out_mccs = {e["mcc"] for e in by_typology["cash_out"]}
    assert cash_out_mccs & {"6051", "4829"}


def test_legitimate_traffic_overlaps_with_fraud_signals() -> None:
    rows = generate_transactions_detailed(20_000, seed=9, label_noise=0.0)
    legit = [row.event for row in rows if row.typology == "legit"]
    assert any(e["mcc"] == "6051" for e in legit)  # legit crypto buys
    assert any(e["amount"] == 1.0 for e in legit)  # card-verification holds
    assert any(e["mcc"] == "6513" and e["amount"] > 2_000 for e in legit)  # large rent
    homes = collections.Counter((e["account_id"], e["country"]) for e in legit)
    accounts_abroad = {account for (account, _), _ in homes.items()}
    assert len(homes) > len(accounts_abroad)  # some accounts spend in more than one country


def test_texts_validate_and_mix_sentiments() -> None:
    rows = generate_labelled_texts(5_000, seed=2)
    for event, _ in rows:
        TextEvent.model_validate(event)
        assert event["lang"] == "en"
        assert 3 <= len(event["text"].split()) <= 60
    sentiments = collections.Counter(sentiment for _, sentiment in rows)
    sources = collections.Counter(event["source"] for event, _ in rows)
    assert set(sentiments) == {"negative", "neutral", "positive"}
    assert set(sources) == {"support_ticket", "social", "log"}
    assert len({event["event_id"] for event, _ in rows}) == len(rows)
    assert len({event["text"] for event, _ in rows}) > 1_000  # variety, not a handful of strings
