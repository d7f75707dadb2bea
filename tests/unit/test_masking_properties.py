"""Properties of masking over generated personal data: nothing of a secret survives, anywhere.

Card numbers, phone numbers and e-mail addresses are drawn in the formats people write them
(``pii_factories``) and put inside random text, nested events, dict keys and JSON numbers. No output
string may hold 7 digits of a secret in a row, read as a person reads a number (digits of any
script joined by separators). Thousands of cases per property.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records.masking import luhn_valid, mask_pii, mask_record, mask_text
from pipeline.records.payloads import alert_record
from pipeline.records.rules import RuleHit
from tests.unit.event_factories import card_numbers, transaction
from tests.unit.pii_factories import (
    card_secrets,
    filler,
    leaks,
    numbers_read,
    secrets,
    strings_in,
    texts_with_secrets,
)

MANY = settings(max_examples=2000, deadline=None)


@MANY
@given(texts_with_secrets())
def test_no_secret_survives_in_text(case: tuple[str, list]) -> None:
    text, found = case
    assert leaks([text], found)  # the check sees every secret in the input: it can fail
    masked = mask_text(text)
    assert not leaks([masked], found), (text, masked)


@MANY
@given(texts_with_secrets())
def test_masking_is_idempotent_and_keeps_length_without_emails(case: tuple[str, list]) -> None:
    text, found = case
    masked = mask_text(text)
    assert mask_text(masked) == masked
    if all(secret.address is None for secret in found):
        assert len(masked) == len(text)


@settings(max_examples=1000, deadline=None)
@given(texts_with_secrets(), texts_with_secrets(), texts_with_secrets(), secrets)
def test_no_secret_survives_anywhere_in_an_event(
    description: tuple[str, list], merchant: tuple[str, list], note: tuple[str, list], key: object
) -> None:
    """Strings at any depth, list items and dict keys."""
    event = transaction(
        description=description[0],
        merchant=merchant[0],
        metadata={"notes": [note[0], {"deeper": description[0]}], key.shown: merchant[0]},  # type: ignore[attr-defined]
    )
    found = [*description[1], *merchant[1], *note[1], key]
    assert not leaks(strings_in(mask_pii(event)), found)


@MANY
@given(card_numbers().filter(lambda card: card[0] in "23456"))
def test_card_numbers_as_json_numbers_are_masked(card: str) -> None:
    masked = mask_pii({"metadata": {"pan": int(card), "list": [int(card)]}})
    for value in (masked["metadata"]["pan"], masked["metadata"]["list"][0]):
        assert value == "*" * (len(card) - 4) + card[-4:]
    if len(card) >= 14 and int(card) < 2**53:  # a float still holds every digit
        assert mask_pii(float(card)) == "*" * (len(card) - 4) + card[-4:]


@MANY
@given(
    st.integers(min_value=0, max_value=1_999_999_999_999)  # epoch ms until 2033
    | st.floats(min_value=0, max_value=7_258_118_400_000)  # float epoch ms, up to 2200
    | st.integers(min_value=-(10**12), max_value=10**12)  # amounts, counts
    | st.floats(min_value=-1e12, max_value=1e12)
    | st.booleans()
)
def test_timestamps_amounts_and_counts_stay_numbers(number: float) -> None:
    assert mask_pii({"timestamp": number, "x": [number]}) == {"timestamp": number, "x": [number]}


@MANY
@given(st.integers(min_value=10**12, max_value=10**19 - 1))
def test_an_integer_is_masked_only_when_it_is_a_card(number: int) -> None:
    digits = str(number)
    is_card = len(digits) >= 13 and digits[0] in "23456" and luhn_valid(digits)
    assert (mask_pii(number) != number) == is_card


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=10**19, max_value=10**40), st.booleans())
def test_numbers_of_20_digits_or_more_are_masked_as_digit_runs(number: int, as_float: bool) -> None:
    """No amount or timestamp is that long; a parser hands an over-long integer over as a float."""
    masked = mask_pii(float(number) if as_float else number)
    assert isinstance(masked, str) and masked.count("*") == len(masked) - 2


@MANY
@given(st.lists(st.text(alphabet="abcxyz .:-()", max_size=6) | st.from_regex(r"\A[0-9]{1,6}\Z"), max_size=8))
def test_short_numbers_between_words_are_left_alone(pieces: list[str]) -> None:
    """Fewer than 7 digits in a run are never touched; runs are broken by letters."""
    text = "w".join(pieces)
    if all(len(number) < 7 for number in numbers_read(text)):
        assert mask_text(text) == text


@settings(max_examples=500, deadline=None)
@given(texts_with_secrets(), texts_with_secrets(), card_secrets(), filler)
def test_alert_records_hold_no_secret_in_any_field(
    description: tuple[str, list], detail: tuple[str, list], card: object, word: str
) -> None:
    """Event copy, reasons' detail and drivers, and a field a later change might add."""
    event = transaction(description=description[0], metadata={"card": card.shown})  # type: ignore[attr-defined]
    hits = [RuleHit("fraud.model_score", "high", detail[0], (word, detail[0]))]
    score = {"event_id": "tx-1", "kind": "fraud", "score": 0.9, "note": description[0]}
    alert = alert_record(score, hits, event)
    found = [*description[1], *detail[1], card]
    assert not leaks(strings_in(alert), found)
    assert alert["event_id"] == "tx-1" and alert["event"]["event_id"] == "tx-1"


def test_mask_record_keeps_only_the_named_fields() -> None:
    record = {"event_id": "id-4111111111111111", "other": "4111111111111111", "n": 4111111111111111}
    assert mask_record(record, {"event_id"}) == {
        "event_id": "id-4111111111111111",
        "other": "************1111",
        "n": "************1111",
    }


@pytest.mark.parametrize(
    "shown",
    [
        "3782.822463.10005",
        "4242_4242_4242_4242",
        "5555 5555  5555 4444",
        "(415) 555-2671",
        "020 7946 0958",
        "0049 (0) 30 901820",
        "+44 20 7946 0958",
    ],
)
def test_issue_16_probes(shown: str) -> None:
    digits = "".join(char for char in shown if char.isdigit())
    masked = mask_text(f"paid {shown} thanks")
    assert all(
        digits[i : i + 7] not in number for number in numbers_read(masked) for i in range(len(digits) - 6)
    )
