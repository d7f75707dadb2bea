"""Mask personal data in every string StreamGuard publishes about an event.

Score and alert topics are read by more people and systems than the input topics, so no field of
theirs may carry a card number, a phone number or an e-mail address: not the event copy, not the
reasons or drivers, not a field added later (``mask_record`` walks the whole record). Phone numbers
are written in too many ways to recognise one by one ("(415) 555-2671", "0049 (0) 30 901820",
"+44 20 7946 0958", full-width digits), so the rule is deliberately generous: every long digit run is
masked, and the price is that some order numbers, IP addresses and ids in free text are masked too.

The rule, exactly (``tests/unit/test_masking*.py`` check it):

- A *digit run* is a maximal stretch of decimal digits of any script (ASCII, full-width,
  Arabic-Indic: what ``str.isdecimal`` accepts) where neighbouring digits are joined by a run of
  separators (white space, ``- . _ / ( ) +``, their full-width forms, Unicode dashes) or by one comma.
- A run holding 7 or more digits is masked: each digit becomes ``*`` except the last four of each
  card number in it (13-19 digits from one group boundary to another, Luhn-valid) or, when it holds
  no card, its last two. Separators stay, so a person still sees the shape:
  "4111-1111-1111-1111" -> "****-****-****-1111", "(415) 555-2671" -> "(***) ***-**71".
- Two shapes of run are left alone, being neither card nor phone: exactly a calendar date in ASCII
  digits ("2024-05-01", "01.05.2024", "05/31/2024") and exactly an amount with thousands commas
  ("12,000.00", how the rules print amounts), unless that amount's digits are a card.
- An e-mail address keeps the first character of its local part and the domain: "j***@example.com".
- A JSON number is a card when it is an integer of 13-19 digits that starts with 2-6 (the ISO/IEC
  7812 industry digit) and passes Luhn; it becomes a masked string. So epoch-millisecond timestamps
  (13 digits starting with 1 until 2033) stay numbers. A float must be integral with 14-19 digits,
  so a float timestamp (13 digits until the year 2286) is never touched; a float beyond 2**53 no
  longer holds the digits it was sent with. A number of 20 or more digits (an integer too long for
  64 bits reaches us as such a float) is masked like a digit run. Other numbers (amounts, counts,
  scores) are kept.
- Dict keys are masked like strings. ``mask_record`` leaves named top-level fields as they are: a
  record's identity (``event_id`` is the producer's id and the Kafka key, ``alert_id`` a UUID whose
  groups can look like digit runs), our own ``model`` name and version, and numbers we computed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from itertools import pairwise
from typing import Any, Final

_MASK: Final = "*"
_CARD_MIN_DIGITS: Final = 13
_CARD_MAX_DIGITS: Final = 19
_MIN_RUN_DIGITS: Final = 7  # the shortest phone numbers (local numbers without area code)
# Payment cards start with 2-6 (the ISO/IEC 7812 industry digit). For numbers this keeps
# epoch-millisecond timestamps (13 digits starting with 1) and most ids out.
_CARD_FIRST_DIGITS: Final = frozenset("23456")
_FLOAT_CARD_MIN: Final = 1e13  # 14 digits: every float timestamp up to 2286 is smaller
_FLOAT_CARD_LIMIT: Final = 1e19
_INT_CARD_MIN: Final = 10 ** (_CARD_MIN_DIGITS - 1)

# Only strings containing a digit (any script) or an at sign can hold anything we mask.
_MAYBE_PII: Final = re.compile(r"[\d@\uff20]")
_SEPARATOR: Final = r"[\s\-._/()+\u2010-\u2015\u2212\uff08\uff09\uff0b\uff0d\uff0e\uff0f\uff3f]"
# A run of at least 7 digits: shorter runs never reach the Python callback. Possessive separator
# runs: a long run of spaces not followed by a digit is given up in one step, not one per space.
_DIGIT_RUN: Final = re.compile(rf"\d(?:(?:{_SEPARATOR}++|,)?\d){{{_MIN_RUN_DIGITS - 1},}}")
_DAY: Final = r"(?:0[1-9]|[12][0-9]|3[01])"
_MONTH: Final = r"(?:0[1-9]|1[0-2])"
_DATE: Final = re.compile(
    rf"(?:19|20)[0-9]{{2}}([-./]){_MONTH}\1{_DAY}|{_DAY}([-./]){_DAY}\2(?:19|20)[0-9]{{2}}"
)
_AMOUNT: Final = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]{1,2})?")
# The local part, when a domain follows the at sign. The domain is only looked at, not consumed, so
# an address glued to the previous one ("a@b.comc@d.com") is found too. The look-behind keeps the
# search linear: without it a 10,000-letter word before an "@" is tried from every letter.
_EMAIL: Final = re.compile(r"(?<![\w.%+-])([\w%+-][\w.%+-]*)[@\uff20](?=(?:[\w-]+[.\uff0e])+[^\W\d_]{2,})")


def mask_pii(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, strings, numbers, nested) with personal data masked."""
    # Exact types first: every score record passes here, and most of its values are short floats.
    kind = type(value)
    if kind is str:
        return mask_text(value)
    if kind is float:
        return value if -_FLOAT_CARD_MIN < value < _FLOAT_CARD_MIN else _mask_float(value)
    if kind is dict:
        return {mask_text(k) if type(k) is str else k: mask_pii(v) for k, v in value.items()}
    if kind is int:
        return value if -_INT_CARD_MIN < value < _INT_CARD_MIN else _mask_int(value)
    if kind is list or kind is tuple:
        return [mask_pii(item) for item in value]
    if value is None or kind is bool:
        return value
    return _mask_other(value)


def _mask_other(value: Any) -> Any:
    """Subclasses and other mappings and sequences: rare, so checked apart from the fast path."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {mask_text(k) if isinstance(k, str) else k: mask_pii(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_pii(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _mask_int(value)
    if isinstance(value, float):
        return _mask_float(value)
    return value


def mask_record(record: Mapping[str, Any], keep: Collection[str] = ()) -> dict[str, Any]:
    """``mask_pii`` of every top-level field except those named in ``keep``, which are copied."""
    return {key: value if key in keep else mask_pii(value) for key, value in record.items()}


def mask_text(text: str) -> str:
    """``text`` with card numbers, phone numbers, other long digit runs and e-mail addresses masked."""
    if _MAYBE_PII.search(text) is None:
        return text
    if "@" in text or "\uff20" in text:
        text = _EMAIL.sub(_mask_email, text)
    return _DIGIT_RUN.sub(_mask_run, text)


def has_digit_or_mask(text: str) -> bool:
    """True for a word that is, or is part of, a number or something already masked."""
    return _MASK in text or any(char.isdecimal() for char in text)


def luhn_valid(digits: str) -> bool:
    """True when the string of decimal digits (any script) passes the Luhn (mod 10) check."""
    return _luhn([unicodedata.decimal(char) for char in digits])


def _luhn(values: Sequence[int]) -> bool:
    total = 0
    for position, digit in enumerate(reversed(values)):
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _is_card_number(digits: str) -> bool:
    return (
        _CARD_MIN_DIGITS <= len(digits) <= _CARD_MAX_DIGITS
        and digits[0] in _CARD_FIRST_DIGITS
        and luhn_valid(digits)
    )


def _mask_int(value: int) -> int | str:
    digits = str(-value if value < 0 else value)
    if len(digits) > _CARD_MAX_DIGITS:
        return mask_text(digits)  # no amount, count or timestamp is this long: a digit run
    if len(digits) < _CARD_MIN_DIGITS or not _is_card_number(digits):
        return value
    return _MASK * (len(digits) - 4) + digits[-4:]


def _mask_float(value: float) -> float | str:
    magnitude = -value if value < 0 else value
    if magnitude >= _FLOAT_CARD_LIMIT and magnitude != float("inf"):
        # How a JSON parser hands over an integer too long for 64 bits: its leading digits remain.
        return mask_text(f"{magnitude:.0f}")
    if not _FLOAT_CARD_MIN <= magnitude < _FLOAT_CARD_LIMIT or not magnitude.is_integer():
        return value
    masked = _mask_int(int(magnitude))
    return value if isinstance(masked, int) else masked


def _mask_run(match: re.Match[str]) -> str:
    """Mask one run of 7+ digits: keep the last four of each card in it, else its last two."""
    run = match.group()
    positions = [index for index, char in enumerate(run) if char.isdecimal()]
    values = [unicodedata.decimal(run[index]) for index in positions]
    # Groups are stretches of adjacent digits, as (first, end) indices into ``values``.
    breaks = [k for k in range(1, len(positions)) if positions[k] != positions[k - 1] + 1]
    groups = list(pairwise([0, *breaks, len(positions)]))
    kept: list[int] = []
    first = 0
    while first < len(groups):
        last = _longest_card_from(values, groups, first)
        if last is None:
            first += 1
            continue
        end = groups[last][1]
        kept += range(end - 4, end)
        first = last + 1
    if not kept:
        if _DATE.fullmatch(run) or _AMOUNT.fullmatch(run):
            return run
        kept = [len(positions) - 2, len(positions) - 1]
    chars = list(run)
    keep = set(kept)
    for k, index in enumerate(positions):
        if k not in keep:
            chars[index] = _MASK
    return "".join(chars)


def _longest_card_from(values: list[int], groups: list[tuple[int, int]], first: int) -> int | None:
    """Index of the last group of the longest Luhn-valid 13-19 digits starting at group ``first``."""
    start = groups[first][0]
    best = None
    for last in range(first, len(groups)):
        length = groups[last][1] - start
        if length > _CARD_MAX_DIGITS:
            break
        if length >= _CARD_MIN_DIGITS and _luhn(values[start : groups[last][1]]):
            best = last
    return best


def _mask_email(match: re.Match[str]) -> str:
    return f"{match.group(1)[0]}***@"
