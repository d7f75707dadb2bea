"""mask_text and mask_pii on known examples: the rule of ``pipeline.records.masking``, case by case.

The property tests over generated formats are in ``test_masking_properties.py``.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records.masking import luhn_valid, mask_pii, mask_text
from tests.unit.event_factories import card_numbers

words = st.text(alphabet="abcdefghij ,.:;!?()", max_size=15)


def wide(text: str) -> str:
    """The full-width form of printable ASCII (digits, letters, punctuation); spaces stay."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


def arabic_indic(digits: str) -> str:
    return "".join(chr(0x0660 + int(char)) for char in digits)


def grouped(digits: str, size: int, separator: str) -> str:
    return separator.join(digits[i : i + size] for i in range(0, len(digits), size))


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("4111111111111111", "************1111"),
        ("4111 1111 1111 1111", "**** **** **** 1111"),
        ("4111-1111-1111-1111", "****-****-****-1111"),
        ("card: 4111 1111 1111 1111, thanks", "card: **** **** **** 1111, thanks"),
        ("3782 822463 10005", "**** ****** *0005"),
        ("cards 4111111111111111 5500000000000004", "cards ************1111 ************0004"),
        # The formats of issue 16: every separator, runs of them, phones in national shapes.
        ("3782.822463.10005", "****.******.*0005"),
        ("4242_4242_4242_4242", "****_****_****_4242"),
        ("5555 5555  5555 4444", "**** ****  **** 4444"),
        ("4242/4242/4242/4242", "****/****/****/4242"),
        ("(415) 555-2671", "(***) ***-**71"),
        ("020 7946 0958", "*** **** **58"),
        ("0049 (0) 30 901820", "**** (*) ** ****20"),
        ("call +44 20 7946 0958", "call +** ** **** **58"),
        ("+14155552671", "+*********71"),
        ("555-1234", "***-**34"),
        # Full-width and other scripts' digits, full-width separators.
        (wide("4242 4242 4242 4242"), "**** **** **** " + wide("4242")),
        (wide("(415)555-2671"), wide("(") + "***" + wide(")") + "***" + wide("-") + "**" + wide("71")),
        (arabic_indic("4155552671"), "********" + arabic_indic("71")),
        # A card in a run of more digits: the card keeps its last four, the rest is masked.
        ("4111 1111 1111 1111 2 items", "**** **** **** 1111 * items"),
        # An amount whose digits are a card (a card number sent as the amount).
        ("amount 4,111,111,111,111,111.00 EUR", "amount *,***,***,***,***,*11.00 EUR"),
        # Generous: long runs that are no card are masked too, keeping two digits.
        ("order 1234567890123456 shipped", "order **************56 shipped"),
        ("ip 192.168.100.200", "ip ***.***.***.*00"),
        ("mail jane.doe+alerts@example.co.uk now", "mail j***@example.co.uk now"),
        ("x@y.io", "x***@y.io"),
        ("write to jane@example.com2 times", "write to j***@example.com2 times"),
        (wide("jane@example.com"), wide("j") + "***@" + wide("example.com")),
    ],
)
def test_known_examples(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "order 77812 shipped",  # fewer than 7 digits
        "ip 10.0.0.1 at 12:00:00",
        "from 2024-05-01 to 31.05.2024, due 05/31/2024",  # calendar dates
        "amount 12,000.00 USD >= large amount 5,000.00",  # amounts as the rules print them
        "velocity: 3 earlier transactions on this account in 10 min (~1,234,567.89 USD)",
        "fraud score 0.973 >= threshold 0.5",
        "version 0.1.0+731dda27",
        "no personal data here",
        "user@localhost",  # no domain suffix
        "",
    ],
)
def test_left_alone(text: str) -> None:
    assert mask_text(text) == text


@settings(max_examples=200)
@given(card_numbers(), st.sampled_from(["", " ", "-"]), st.sampled_from([4, 5]), words, words)
def test_valid_cards_are_masked_in_any_format(
    card: str, separator: str, size: int, before: str, after: str
) -> None:
    assert luhn_valid(card)
    shown = grouped(card, size, separator) if separator else card
    masked = mask_text(f"{before} {shown} {after}")
    assert card not in re.sub(r"[ -]", "", masked)
    digits_left = re.sub(r"[^0-9]", "", masked)
    assert digits_left == card[-4:], masked


@settings(max_examples=200)
@given(card_numbers(), st.integers(min_value=1, max_value=9), words)
def test_luhn_invalid_runs_keep_two_digits_not_four(card: str, delta: int, before: str) -> None:
    wrong = card[:-1] + str((int(card[-1]) + delta) % 10)
    assert not luhn_valid(wrong)
    masked = mask_text(f"{before} ref {wrong} {before}")
    assert masked == f"{before} ref {'*' * (len(wrong) - 2)}{wrong[-2:]} {before}"


@settings(max_examples=200)
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=20).filter(
        lambda s: s[0] not in "._+-"
    ),
    st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=10), min_size=1, max_size=3
    ),
    st.sampled_from(["com", "io", "co.uk", "de"]),
)
def test_emails_hide_the_local_part(local: str, labels: list[str], tld: str) -> None:
    domain = ".".join([*labels, tld])
    assert mask_text(f"contact {local}@{domain} today") == f"contact {local[0]}***@{domain} today"


@settings(max_examples=100)
@given(st.text(alphabet="0123456789", min_size=8, max_size=15))
def test_phones_keep_last_two(number: str) -> None:
    # Unless the digits also pass as a card: then the last four, as for any card.
    keep = 4 if len(number) >= 13 and luhn_valid(number) else 2
    masked = mask_text(f"call +{number} now")
    assert masked == f"call +{'*' * (len(number) - keep)}{number[-keep:]} now"


def test_nested_structures() -> None:
    event = {
        "description": "paid with 4111 1111 1111 1111",
        "metadata": {"emails": ["a.b@example.com", 5], "phone": "+4930123456789", "ok": True},
        "amount": 12.5,
        "timestamp": 1714564800123,
    }
    assert mask_pii(event) == {
        "description": "paid with **** **** **** 1111",
        "metadata": {"emails": ["a***@example.com", 5], "phone": "+***********89", "ok": True},
        "amount": 12.5,
        "timestamp": 1714564800123,
    }
    assert event["description"] == "paid with 4111 1111 1111 1111"  # the input is not modified


def test_text_without_digits_or_at_is_returned_as_is() -> None:
    text = "nothing to see " * 100
    assert mask_text(text) is text


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_never_raises_and_keeps_length_without_emails(text: str) -> None:
    masked = mask_text(text)
    if "@" not in text and "\uff20" not in text:  # only e-mail masking changes the length
        assert len(masked) == len(text)


def test_long_digit_text_is_fast() -> None:
    # Group-aligned search must stay linear: 20,000 single-digit groups.
    text = "4 " * 20_000
    assert len(mask_text(text)) == len(text)
