"""Phone number validation with libphonenumber's metadata (the ``phonenumbers`` port).

The candidate pattern is deliberately loose (digits with spaces, dots, dashes and
parentheses); this module throws out what only looks like a number: dates, clock
times, prices, version strings, bare ids.  Numbers in international format are
accepted for every country; national formats for NANP (``(202) 555-0143``) and the UK
(``020 7946 0958``), the formats analytics traffic actually carries.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from seawall.pii.validators import Span, char_at, word_char

_DATE = re.compile(r"\d{4}[-/. ]\d{1,2}[-/. ]\d{1,2}(?!\d)|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?!\d)")
_DOTTED = re.compile(r"(?:\+\d{1,3}[ .])?\(?\d{3}\)?\.\d{3}\.\d{4}")
_CURRENCY = frozenset("$€£¥₹")


def phone_number(text: str, start: int, end: int) -> Span | None:
    """Context checks first (cheap), then libphonenumber on what survives."""
    if text[start] == "(" and ")" not in text[start:end]:
        start += 1
    candidate = text[start:end]
    before, after = char_at(text, start - 1), char_at(text, end)
    if word_char(before) or before in "._-/#" or before in _CURRENCY:
        return None
    if word_char(after) or after in "%/_" or after in _CURRENCY:
        return None
    if after in ".:,-" and char_at(text, end + 1).isdigit():
        return None  # a version, a clock time or a longer number
    digits = sum(ch.isdigit() for ch in candidate)
    if digits < 7 or digits > 15:
        return None
    plus = candidate.startswith("+")
    if not plus and digits == len(candidate):
        return None  # a bare run of digits is an id or a timestamp far more often
    if "." in candidate and not _DOTTED.fullmatch(candidate):
        return None
    if _DATE.match(candidate.lstrip("+(")):
        return None
    return (start, end) if _valid(candidate) else None


@lru_cache(maxsize=4096)
def _valid(candidate: str) -> bool:
    """Parsing costs tens of microseconds; the same strings recur across events."""
    if candidate.startswith("+"):
        regions: tuple[str | None, ...] = (None,)
    elif candidate.lstrip("(").startswith("0"):
        regions = ("GB",)
    else:
        regions = ("US",)
    for region in regions:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def is_phone_shaped(text: str) -> bool:
    """Whether a whole string (a path segment, a query value) is a valid phone number."""
    stripped = text.strip()
    return bool(stripped) and phone_number(stripped, 0, len(stripped)) is not None
