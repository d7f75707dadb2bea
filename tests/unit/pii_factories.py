"""Personal data written the ways people write it, and a check that none of it survives.

A *secret* is a card number, a phone number or an e-mail address as a producer might send it
(any grouping and separators, country prefixes, ``(0)``, full-width or Arabic-Indic digits). The
check reads an output string the way a person would: decimal digits of any script joined by
separators form one number, and no 7 consecutive digits of a secret may appear in one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.unit.event_factories import card_numbers

WINDOW = 7  # the shortest phone number; any 7 digits of a secret in a row count as a leak

# Separators between digit groups as people type them (runs of spaces, mixed, full-width).
GROUP_SEPARATORS = (" ", "  ", "   ", "-", ".", "_", "/", " - ", " / ", "\u00a0", "\u3000", "\uff0d")
PHONE_SEPARATORS = (" ", "-", ".", "/", "  ", "\u00a0")
# Joins digits into one number for the check: white space and the separators above.
_JOINERS = re.compile(r"[\s\-._/()+\uff08\uff09\uff0b\uff0d\uff0e\uff0f\uff3f]+")
_DIGIT_SCRIPTS = (0x30, 0xFF10, 0x0660, 0x0966)  # ASCII, full-width, Arabic-Indic, Devanagari

# Text around a secret: words, punctuation, short numbers. No commas, so a number in the filler
# never runs into a secret in the check's reading while the masker reads them apart.
filler = st.text(alphabet="abcxyz ABC:;!?#'\"\n 12", max_size=12)


@dataclass(frozen=True)
class Secret:
    shown: str  # as written in the input
    digit_strings: tuple[str, ...] = ()  # ASCII digits whose 7-digit windows must not survive
    address: str | None = None  # an e-mail address that must not survive


def script_digits(draw: st.DrawFn, text: str) -> str:
    """``text`` with its ASCII digits in one script, or mixed scripts, as drawn."""
    mode = draw(st.sampled_from(("ascii", "ascii", "one", "mixed")))
    if mode == "ascii":
        return text
    base = draw(st.sampled_from(_DIGIT_SCRIPTS))
    out = []
    for char in text:
        if char.isdigit():
            if mode == "mixed":
                base = draw(st.sampled_from(_DIGIT_SCRIPTS))
            out.append(chr(base + int(char)))
        else:
            out.append(char)
    return "".join(out)


def _grouped(draw: st.DrawFn, digits: str, separators: tuple[str, ...]) -> str:
    """``digits`` cut into groups, each cut drawn (all of them, none, some), any separators."""
    cuts = draw(st.sampled_from(("none", "fours", "random", "amex")))
    if cuts == "none":
        return digits
    if cuts == "fours":
        points = list(range(4, len(digits), 4))
    elif cuts == "amex":
        points = [p for p in (4, 10) if p < len(digits)]
    else:
        points = [p for p in range(1, len(digits)) if draw(st.booleans())]
    same = draw(st.booleans())
    separator = draw(st.sampled_from(separators))
    out, last = [], 0
    for point in points:
        out.append(digits[last:point])
        out.append(separator if same else draw(st.sampled_from(separators)))
        last = point
    out.append(digits[last:])
    return "".join(out)


@st.composite
def card_secrets(draw: st.DrawFn) -> Secret:
    card = draw(card_numbers())
    return Secret(script_digits(draw, _grouped(draw, card, GROUP_SEPARATORS)), (card,))


@st.composite
def phone_secrets(draw: st.DrawFn) -> Secret:
    """National numbers of 7-12 digits, with or without +CC / 00CC, (0), parenthesised area code."""
    national = draw(st.text(alphabet="0123456789", min_size=7, max_size=12))
    country = draw(st.text(alphabet="0123456789", min_size=1, max_size=3).filter(lambda c: c[0] != "0"))
    prefix = draw(st.sampled_from(("", "", f"+{country} ", f"+{country}", f"00{country} ", f"(+{country}) ")))
    trunk = draw(st.sampled_from(("", " (0) ", "(0)"))) if prefix else ""
    area_size = draw(st.integers(0, 4))
    area, rest = national[:area_size], national[area_size:]
    if area and draw(st.booleans()):
        area = f"({area}) "
    elif area:
        area += draw(st.sampled_from(PHONE_SEPARATORS))
    shown = prefix + trunk + area + _grouped(draw, rest, PHONE_SEPARATORS)
    all_digits = "".join(char for char in shown if char.isdigit())
    return Secret(script_digits(draw, shown), (all_digits, national))


_KNOWN_PHONES = ("(415) 555-2671", "020 7946 0958", "0049 (0) 30 901820", "+44 20 7946 0958")
_KNOWN_CARDS = ("3782.822463.10005", "4242_4242_4242_4242", "5555 5555  5555 4444")


def _known(shown: str) -> Secret:
    return Secret(shown, ("".join(char for char in shown if char.isdigit()),))


@st.composite
def email_secrets(draw: st.DrawFn) -> Secret:
    local = draw(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=2, max_size=20).filter(
            lambda s: s[0] not in "._+-"
        )
    )
    labels = draw(
        st.lists(
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8), min_size=1, max_size=3
        )
    )
    address = f"{local}@{'.'.join(labels)}.{draw(st.sampled_from(['com', 'io', 'co.uk', 'de']))}"
    long_digits = tuple(run for run in re.findall(r"[0-9]+", local) if len(run) >= WINDOW)
    return Secret(address, long_digits, address)


secrets = (
    card_secrets()
    | phone_secrets()
    | email_secrets()
    | st.sampled_from(_KNOWN_PHONES + _KNOWN_CARDS).map(_known)
)


@st.composite
def texts_with_secrets(draw: st.DrawFn, max_secrets: int = 3) -> tuple[str, list[Secret]]:
    """Filler text with 1..``max_secrets`` secrets inside it."""
    found = draw(st.lists(secrets, min_size=1, max_size=max_secrets))
    parts = [draw(filler)]
    for secret in found:
        parts += [secret.shown, draw(filler)]
    return "".join(parts), found


def numbers_read(text: str) -> list[str]:
    """The numbers a reader sees in ``text``: digits of any script joined by separators, as ASCII."""
    out, current = [], []
    for piece in re.split(f"({_JOINERS.pattern})", text):
        if not piece:
            continue
        if _JOINERS.fullmatch(piece):
            continue  # a separator does not end a number
        for char in piece:
            if char.isdecimal():
                current.append(str(unicodedata.decimal(char)))
            elif current:
                out.append("".join(current))
                current = []
    if current:
        out.append("".join(current))
    return out


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value: keys and values, nested."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def leaks(outputs: Iterable[str], found: Iterable[Secret]) -> list[str]:
    """What of ``found`` survives in ``outputs`` (empty when nothing does)."""
    windows = {
        digits[i : i + WINDOW]
        for secret in found
        for digits in secret.digit_strings
        for i in range(len(digits) - WINDOW + 1)
    }
    addresses = [secret.address.casefold() for secret in found if secret.address]
    leaked = []
    for text in outputs:
        numbers = numbers_read(text)
        leaked += [f"{window} in {text!r}" for window in windows if any(window in n for n in numbers)]
        folded = text.casefold()
        leaked += [f"{address} in {text!r}" for address in addresses if address in folded]
        local_parts = [address.split("@")[0] + "@" for address in addresses]
        leaked += [f"{local} in {text!r}" for local in local_parts if local in folded]
    return leaked
