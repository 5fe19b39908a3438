"""The detector registry: one small (pattern, validator) pair per kind of candidate.

Patterns are written in the common subset of Hyperscan, RE2 and Python ``re``: ASCII
bytes (and ``\x80``, the mask's byte for a non-ASCII letter, which RE2 reads as
Latin-1), no look-around, no back-references, no large bounded repeats.  Context checks
that would need look-around (is this IP inside a version string?) live in the
validators instead, so that every backend proposes exactly the same candidates.
No pattern can match a newline, which lets ``scan_lines`` scan many lines at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from seawall.pii import validators as v
from seawall.pii.finding import (
    CREDIT_CARD,
    EMAIL_ADDRESS,
    IBAN_CODE,
    IP_ADDRESS,
    JWT,
    PHONE_NUMBER,
    SECRET_KEY,
    URL_CREDENTIALS,
    US_SSN,
)
from seawall.pii.phone import phone_number


@dataclass(frozen=True, slots=True)
class Detector:
    """A candidate pattern for one entity and the validator that confirms it.

    ``needs`` lists literals of which at least one occurs in every match; the
    ``re`` and RE2 backends skip the pattern when none is present (Hyperscan does
    not need the hint).  ``for_re``, when set, is the same pattern written for
    Python's ``re``, which tries a pattern at every position it cannot rule out by
    its first character: a lookahead naming the characters a match starts with,
    possessive runs where giving characters back can never help (the run's class
    excludes the character that must follow).  RE2 and Hyperscan lack both.
    """

    entity: str
    pattern: bytes
    validate: v.Validator
    needs: tuple[str, ...]
    for_re: bytes = b""

    @property
    def re_pattern(self) -> bytes:
        """The pattern to compile with Python's ``re``: the same matches, found faster."""
        return self.for_re or self.pattern


_DIGITS = tuple("0123456789")
_TOKEN = rb"[A-Za-z0-9_-]"
#: ``\x80`` is the mask's byte for a non-ASCII letter, digit or mark
#: (``decoding.WORD_BYTE``): internationalised addresses match whole, Unicode local
#: part (RFC 6531) and IDNA domain alike; a punycode TLD (``xn--p1ai``) as well.
_EMAIL = (
    rb"[A-Za-z0-9._+\x80-]+@[A-Za-z0-9\x80-]+(?:\.[A-Za-z0-9\x80-]+)*"
    rb"\.(?:[Xx][Nn]--[A-Za-z0-9-]{1,59}|[A-Za-z\x80]{2,24})"
)
_PHONE = rb"\+?\(?[0-9][0-9 ().-]{5,}[0-9]"
_SECRET_NAME = (
    rb"(?i:api[_-]?key|api[_-]?secret|secret[_-]?key|client[_-]?secret|access[_-]?key"
    rb"|access[_-]?token|auth[_-]?token|refresh[_-]?token|private[_-]?key|secret|token"
    rb"|password|passwd)[\"']?[ ]*[=:][ ]*[\"']?[A-Za-z0-9_+/=.~-]{16,}"
)
_CREDENTIALS = rb"[A-Za-z][A-Za-z0-9+.-]*://[^ \t\n\r\f\v/?#@:]+:[^ \t\n\r\f\v/?#@]+@"

DETECTORS: tuple[Detector, ...] = (
    Detector(
        EMAIL_ADDRESS,
        _EMAIL,
        v.email,
        ("@",),
        _EMAIL.replace(rb"+@", rb"++@", 1),
    ),
    Detector(PHONE_NUMBER, _PHONE, phone_number, _DIGITS, rb"(?=[+(0-9])" + _PHONE),
    Detector(IP_ADDRESS, rb"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", v.ipv4, (".",)),
    Detector(IP_ADDRESS, rb"[0-9A-Fa-f]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*", v.ipv6, ("::", ":")),
    Detector(CREDIT_CARD, rb"[0-9](?:[ -]?[0-9]){12,22}", v.credit_card, _DIGITS),
    Detector(IBAN_CODE, rb"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){10,36}", v.iban, _DIGITS),
    Detector(US_SSN, rb"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}", v.us_ssn, ("-", " ")),
    Detector(
        JWT, rb"eyJ" + _TOKEN + rb"+\.eyJ" + _TOKEN + rb"+\." + _TOKEN + rb"*", v.jwt, ("eyJ",)
    ),
    Detector(
        SECRET_KEY,
        rb"sk-(?:proj-|svcacct-|admin-)?" + _TOKEN + rb"{20,}",
        v.prefixed_secret,
        ("sk-",),
    ),
    Detector(
        SECRET_KEY,
        rb"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}",
        v.prefixed_secret,
        ("AKIA", "ASIA", "ABIA", "ACCA"),
    ),
    Detector(
        SECRET_KEY,
        rb"gh[pousr]_[A-Za-z0-9]{36}",
        v.prefixed_secret,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    Detector(SECRET_KEY, rb"github_pat_[A-Za-z0-9_]{22,}", v.prefixed_secret, ("github_pat_",)),
    Detector(SECRET_KEY, rb"xox[baprse]-[A-Za-z0-9-]{10,}", v.prefixed_secret, ("xox",)),
    Detector(
        SECRET_KEY,
        rb"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        v.prefixed_secret,
        ("k_live_", "k_test_"),
    ),
    Detector(SECRET_KEY, rb"whsec_[A-Za-z0-9+/=]{24,}", v.prefixed_secret, ("whsec_",)),
    Detector(SECRET_KEY, rb"AIza" + _TOKEN + rb"{35}", v.prefixed_secret, ("AIza",)),
    Detector(SECRET_KEY, rb"ya29\." + _TOKEN + rb"{20,}", v.prefixed_secret, ("ya29.",)),
    Detector(SECRET_KEY, rb"GOCSPX-" + _TOKEN + rb"{20,}", v.prefixed_secret, ("GOCSPX-",)),
    Detector(
        SECRET_KEY,
        _SECRET_NAME,
        v.generic_secret,
        ("=", ":"),
        rb"(?=[ACPRSTacprst])" + _SECRET_NAME,  # the names' first letters
    ),
    Detector(
        URL_CREDENTIALS,
        _CREDENTIALS,
        v.url_credentials,
        ("://",),
        _CREDENTIALS.replace(rb"*://", rb"*+://", 1),
    ),
)
