"""Phone number validation with libphonenumber's metadata (the ``phonenumbers`` port).

The candidate pattern is deliberately loose (digits with spaces, dots, dashes and
parentheses); this module throws out what only looks like a number: dates, clock
times, prices, version strings, bare ids.  Numbers in international format are
accepted for every country; national formats for NANP (``(202) 555-0143``) and the UK
(``020 7946 0958``), the formats analytics traffic actually carries.

Parsing costs tens of microseconds, more than everything else the engine does with a
candidate, so exact shortcuts come first: the cheap context checks, then the length
rules of the two national plans (``_may_be_valid``), which refuse what libphonenumber
would refuse anyway (a test holds them to that); and a plain number, international
or national, is judged from the metadata directly (``seawall.pii.numbering``, tested
against libphonenumber's own verdicts), the full parse only when that cannot tell.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from seawall.pii.numbering import international_valid, national_valid
from seawall.pii.validators import Span, char_at

_DATE = re.compile(r"\d{4}[-/. ]\d{1,2}[-/. ]\d{1,2}(?!\d)|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?!\d)")
_DOTTED = re.compile(r"(?:\+\d{1,3}[ .])?\(?\d{3}\)?\.\d{3}\.\d{4}")
_NOT_DIGIT = re.compile(r"[^0-9]+")
#: What the candidate pattern yields after a ``+``: nothing ``parse`` would read as
#: an extension, a second number or an RFC 3966 parameter.
_PLAIN_INTERNATIONAL = re.compile(r"\+[0-9 ().-]*")
_PLAIN_NATIONAL = re.compile(r"[0-9 ().-]*")
#: Characters that may not touch a number on its left / right (besides word characters).
_BAD_BEFORE = frozenset("._-/#$€£¥₹")
_BAD_AFTER = frozenset("%/_$€£¥₹")
#: Possible lengths of national numbers per country code, the union over its regions
#: of libphonenumber's metadata (a test compares them with the installed metadata).
NATIONAL_LENGTHS: dict[int, frozenset[int]] = {1: frozenset((7, 10)), 44: frozenset((7, 9, 10))}


def phone_number(text: str, start: int, end: int) -> Span | None:
    """Context checks first (cheap), then libphonenumber on what survives."""
    if text[start] == "(" and ")" not in text[start:end]:
        start += 1
    before = text[start - 1] if start else "\x00"  # as char_at, inlined: the hottest path
    after = text[end] if end < len(text) else "\x00"
    if before.isalnum() or before in _BAD_BEFORE or after.isalnum() or after in _BAD_AFTER:
        return None
    if after in ".:,-" and char_at(text, end + 1).isdigit():
        return None  # a version, a clock time or a longer number
    candidate = text[start:end]
    if "." in candidate and not _DOTTED.fullmatch(candidate):
        return None
    digits = digits_of(candidate)
    if len(digits) < 7 or len(digits) > 15:
        return None
    plus = candidate[0] == "+"
    if not plus and len(digits) == len(candidate):
        return None  # a bare run of digits is an id or a timestamp far more often
    if _DATE.match(candidate.lstrip("+(")):
        return None
    if not plus and not _may_be_valid(digits):
        return None
    return (start, end) if _valid(candidate) else None


def digits_of(candidate: str) -> str:
    """The ASCII digits of ``candidate``.  The pattern only admits digits and
    ``+ ( ) . -`` and spaces, which ``str.replace`` removes at a third of the cost of a
    regex substitution; anything else takes the regex."""
    digits = (
        candidate.replace(" ", "")
        .replace("-", "")
        .replace(".", "")
        .replace("(", "")
        .replace(")", "")
        .replace("+", "")
    )
    if digits.isascii() and digits.isdigit():
        return digits
    return _NOT_DIGIT.sub("", candidate)


def _may_be_valid(digits: str) -> bool:
    """Whether a number without ``+`` could pass ``_valid``, judged by its length alone.

    A national number of country code 1 (NANP) has 7 or 10 digits, of 44 (the UK and
    the Crown dependencies) 7, 9 or 10 (``NATIONAL_LENGTHS``, libphonenumber's own
    figures).  libphonenumber strips 1s (country code, trunk prefix) before a NANP
    number and the trunk prefix 0 before a UK one, and reads 00 as the international
    prefix (any length).  A necessary condition only: what passes still goes to
    libphonenumber.
    """
    n = len(digits)
    if digits[0] == "0":
        return digits[1] == "0" or n in NATIONAL_LENGTHS[44] or n - 1 in NATIONAL_LENGTHS[44]
    ones = n - len(digits.lstrip("1"))
    return any(n - k in NATIONAL_LENGTHS[1] for k in range(ones + 1))


@lru_cache(maxsize=4096)
def _valid(candidate: str) -> bool:
    """Parsing costs tens of microseconds; the same strings recur across events.

    A plain number (digits and the pattern's separators, with or without ``+``) is
    judged from the metadata directly (``seawall.pii.numbering``: the same answer in
    a fraction of the time).
    """
    fast = None
    if candidate[0] == "+":
        if _PLAIN_INTERNATIONAL.fullmatch(candidate):
            fast = international_valid(digits_of(candidate))
    elif _PLAIN_NATIONAL.fullmatch(candidate):
        fast = national_valid(digits_of(candidate), _national_region(candidate))
    return libphonenumber_valid(candidate) if fast is None else fast


def _national_region(candidate: str) -> str:
    """The region a number without ``+`` is read in: the UK after a trunk 0, else NANP."""
    return "GB" if candidate.lstrip("(").startswith("0") else "US"


def libphonenumber_valid(candidate: str) -> bool:
    """libphonenumber's verdict: international format anywhere, else NANP or the UK."""
    region = None if candidate.startswith("+") else _national_region(candidate)
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))
