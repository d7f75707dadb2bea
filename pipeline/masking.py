"""Mask personal data in the copy of an event that goes into an alert.

Card numbers (13-19 digits, first digit 2-6, Luhn-valid) keep their last four digits, e-mail
addresses keep the first character of the local part and the domain, phone numbers (+CC, 8-15
digits) keep the last two. Separators are kept so a person can still recognise the shape:
"4111-1111-1111-1111" becomes "****-****-****-1111". Digit runs that fail the Luhn check (order
numbers, amounts) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

_MASK: Final = "*"
_CARD_MIN_DIGITS: Final = 13
_CARD_MAX_DIGITS: Final = 19
# Payment cards start with 2-6 (the ISO/IEC 7812 industry digit). This keeps epoch-millisecond
# timestamps (13 digits starting with 1) and most reference numbers out, and costs little.
_CARD_FIRST_DIGITS: Final = frozenset("23456")

# Only strings containing a digit or an "@" can hold anything we mask: one C-level scan decides.
_MAYBE_PII: Final = re.compile(r"[0-9@]")
# A run of digits, each group separated by at most one space or dash. Runs longer than a card are
# found too, so a card followed by more digits ("... 1111 2 items") can still be picked out.
_DIGIT_RUN: Final = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,}(?![0-9])")
_DIGIT_GROUP: Final = re.compile(r"[0-9]+")
# A phone may not stop just before another digit group: "+1 4111 1111 1111 1111" is no phone.
_PHONE: Final = re.compile(r"(?<![\w+])\+[0-9](?:[ .-]?[0-9]){7,14}(?![ .-]?[0-9])")
_EMAIL: Final = re.compile(r"(?<![\w.%+-])([\w%+-][\w.%+-]*)@((?:[\w-]+\.)+[^\W\d_]{2,})\b")


def mask_pii(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, strings, nested) with card numbers, e-mails and phones masked.

    Keys and non-string scalars are left as they are: a JSON number holding a card is rare, and
    masking numbers would hit timestamps and ids far more often.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict | Mapping):  # dict first: the common case skips the ABC check
        return {key: mask_pii(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_pii(item) for item in value]
    return value


def mask_text(text: str) -> str:
    """``text`` with card numbers, e-mail addresses and phone numbers masked."""
    if _MAYBE_PII.search(text) is None:
        return text
    if "@" in text:
        text = _EMAIL.sub(_mask_email, text)
    # Phones first: "+4930123456789" is a phone even if its digits happen to pass the Luhn check,
    # and a masked phone has no digit run left for the card pattern.
    text = _PHONE.sub(_mask_phone, text)
    return _DIGIT_RUN.sub(_mask_card_in_run, text)


def luhn_valid(digits: str) -> bool:
    """True when the string of ASCII digits passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _mask_digits(text: str, *, keep: int) -> str:
    """Replace every digit but the last ``keep`` with the mask, leaving separators in place."""
    to_hide = sum(char.isdigit() for char in text) - keep
    out = []
    for char in text:
        if to_hide > 0 and char.isdigit():
            out.append(_MASK)
            to_hide -= 1
        else:
            out.append(char)
    return "".join(out)


def _mask_card_in_run(match: re.Match[str]) -> str:
    """Mask every card number in a run of digit groups, trying only group boundaries.

    "4111 1111 1111 1111 2" masks the card and keeps the "2"; a 30-digit reference number with no
    separators is one group and no card. From each group, the longest valid card is taken.
    """
    run = match.group()
    groups = [(m.start(), m.end()) for m in _DIGIT_GROUP.finditer(run)]
    pieces: list[str] = []
    done = 0  # run[:done] is already in pieces
    first = 0
    while first < len(groups):
        card_end = _longest_card_from(run, groups, first)
        if card_end is None:
            first += 1
            continue
        start = groups[first][0]
        pieces += [run[done:start], _mask_digits(run[start : groups[card_end][1]], keep=4)]
        done = groups[card_end][1]
        first = card_end + 1
    pieces.append(run[done:])
    return "".join(pieces)


def _longest_card_from(run: str, groups: list[tuple[int, int]], first: int) -> int | None:
    """Index of the last group of the longest card number starting at group ``first``, if any."""
    if run[groups[first][0]] not in _CARD_FIRST_DIGITS:
        return None
    digits = ""
    best = None
    for last in range(first, len(groups)):
        start, end = groups[last]
        digits += run[start:end]
        if len(digits) > _CARD_MAX_DIGITS:
            break
        if len(digits) >= _CARD_MIN_DIGITS and luhn_valid(digits):
            best = last
    return best


def _mask_email(match: re.Match[str]) -> str:
    local, domain = match.group(1), match.group(2)
    return f"{local[0]}***@{domain}"


def _mask_phone(match: re.Match[str]) -> str:
    return _mask_digits(match.group(), keep=2)
