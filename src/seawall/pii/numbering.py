"""Validity of phone numbers straight from libphonenumber's metadata.

``phonenumbers.parse`` followed by ``is_valid_number`` costs about 22 us, most of it
generic work our candidates never need (finding the number in free text, extensions,
RFC 3966, alpha characters, a ``PhoneNumber`` object) and the same type patterns
matched twice for NANP numbers.  For a number written with ``+`` whose digits take no
detour through that work, ``international_valid`` gives libphonenumber's own answer
from the same metadata in a few microseconds:

- the country code is the first 1-3 digits that name one (``_extract_country_code``);
- the national number is the rest; ``None`` ("ask libphonenumber") when the
  country's national prefix for parsing matches its start (``parse`` may strip it),
  when it starts with 0 (Italian leading zeros) or when the code is non-geographic;
- the region is chosen as ``region_code_for_number`` chooses it (leading digits, else
  the first region whose patterns accept the number);
- the number is valid when the region's general pattern and one of its type patterns
  (fixed line, mobile, toll free, ...) accept it, possible lengths included: exactly
  ``_number_type_helper(...) != UNKNOWN``.

A number written without ``+`` (national NANP and UK formats) gets the same
treatment from ``national_valid``: the default region's international prefix, country
code and national prefix are read as ``parse`` reads them (see there), then the
region and patterns as above.

``tests/pii/test_numbering.py`` compares both with libphonenumber on every example
number of every region, on mutations of them (national forms too), and on generated
strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

#: The type descriptions ``_number_type_helper`` tries after the general one.  It
#: names the first that accepts; validity only asks whether any does, so the likeliest
#: come first here (most numbers are fixed lines or mobiles: nine pattern matches
#: fewer for them).
_TYPES = (
    "fixed_line",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)
_NON_GEOGRAPHIC = "001"


@dataclass(frozen=True, slots=True)
class _Desc:
    """One number description: possible lengths (empty: any) and its pattern."""

    lengths: tuple[int, ...]
    pattern: re.Pattern[str]

    def accepts(self, nsn: str) -> bool:
        if self.lengths and len(nsn) not in self.lengths:
            return False
        return self.pattern.fullmatch(nsn) is not None


@dataclass(frozen=True, slots=True)
class _Region:
    """A region's leading-digits rule, national prefix for parsing, and patterns."""

    leading_digits: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    general: _Desc | None
    types: tuple[_Desc, ...]

    def accepts(self, nsn: str) -> bool:
        """``_number_type_helper(nsn, metadata) != UNKNOWN``."""
        if self.general is None or not self.general.accepts(nsn):
            return False
        return any(desc.accepts(nsn) for desc in self.types)


def _desc(metadata: PhoneMetadata, name: str) -> _Desc | None:
    desc = getattr(metadata, name)
    if desc is None or not desc.national_number_pattern:
        return None  # _match_national_number: no pattern matches nothing
    return _Desc(tuple(desc.possible_length), re.compile(desc.national_number_pattern))


def _region(metadata: PhoneMetadata) -> _Region:
    names = _TYPES if metadata.same_mobile_and_fixed_line_pattern else ("mobile", *_TYPES)
    types = tuple(d for d in (_desc(metadata, name) for name in names) if d is not None)
    leading = metadata.leading_digits
    prefix = metadata.national_prefix_for_parsing
    return _Region(
        re.compile(leading) if leading is not None else None,
        re.compile(prefix) if prefix else None,
        _desc(metadata, "general_desc"),
        types,
    )


_regions: dict[str, _Region | None] = {}


def _region_of(code: str) -> _Region | None:
    """Built on first use: a scan meets a handful of regions (NANP alone has 25)."""
    if code not in _regions:
        metadata = PhoneMetadata.metadata_for_region(code, None)
        _regions[code] = None if metadata is None else _region(metadata)
    return _regions[code]


def international_valid(digits: str) -> bool | None:
    """Whether libphonenumber would call ``+`` followed by ``digits`` a valid number,
    or ``None`` when only its full parse can tell (see the module docstring)."""
    if not digits or digits[0] == "0":
        return None
    for size in (1, 2, 3):
        country_code = int(digits[:size])
        if country_code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    nsn = digits[size:]
    codes = COUNTRY_CODE_TO_REGION_CODE[country_code]
    if _NON_GEOGRAPHIC in codes or len(nsn) < 2 or len(nsn) > 17 or nsn[0] == "0":
        return None
    main = _region_of(codes[0])  # the region whose national prefix parse would strip
    if main is None:
        return None
    if main.national_prefix is not None and main.national_prefix.match(nsn):
        return None
    return _valid_for(codes, nsn)


def _valid_for(codes: tuple[str, ...], nsn: str) -> bool:
    """``is_valid_number`` for the national significant number ``nsn`` of the country
    code whose regions are ``codes``: the region as ``region_code_for_number`` picks
    it, then its patterns."""
    if len(codes) == 1:
        region = _region_of(codes[0])
        return region is not None and region.accepts(nsn)
    for code in codes:
        region = _region_of(code)
        if region is None:
            continue
        if region.leading_digits is not None:
            if region.leading_digits.match(nsn):
                return region.accepts(nsn)
        elif region.accepts(nsn):
            return True
    return False


# What ``_test_number_length`` answers, by name; only these three matter here.
_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH, _TOO_LONG, _POSSIBLE = range(5)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What ``parse`` reads of the default region when a number has no ``+``."""

    country_code: str
    regions: tuple[str, ...]
    international_prefix: re.Pattern[str]
    national_prefix: re.Pattern[str] | None
    general: re.Pattern[str]
    lengths: tuple[int, ...]
    local_lengths: tuple[int, ...]

    def length(self, size: int) -> int:
        """``_test_number_length(number, metadata)`` for a number of ``size`` digits."""
        if size in self.local_lengths:
            return _LOCAL_ONLY
        if size == self.lengths[0]:
            return _POSSIBLE
        if size < self.lengths[0]:
            return _TOO_SHORT
        if size > self.lengths[-1]:
            return _TOO_LONG
        return _POSSIBLE if size in self.lengths[1:] else _INVALID_LENGTH

    def strip_national_prefix(self, number: str) -> str:
        """``_maybe_strip_national_prefix_carrier_code`` without a transform rule
        (``_plan`` refuses regions that have one)."""
        if not number or self.national_prefix is None:
            return number
        match = self.national_prefix.match(number)
        if match is None:
            return number
        rest = number[match.end() :]
        if self.general.fullmatch(number) and not self.general.fullmatch(rest):
            return number
        return rest


def _plan(region: str) -> _Plan | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.country_code is None:
        return None
    if metadata.national_prefix_transform_rule:
        return None
    general = metadata.general_desc
    if general is None or not general.national_number_pattern or not general.possible_length:
        return None
    prefix = metadata.national_prefix_for_parsing
    return _Plan(
        str(metadata.country_code),
        tuple(COUNTRY_CODE_TO_REGION_CODE[metadata.country_code]),
        re.compile(metadata.international_prefix or "NonMatch"),
        re.compile(prefix) if prefix else None,
        re.compile(general.national_number_pattern),
        tuple(sorted(general.possible_length)),
        tuple(general.possible_length_local_only),
    )


_plans: dict[str, _Plan | None] = {}


def national_valid(digits: str, region: str) -> bool | None:
    """Whether libphonenumber would call ``digits``, written without ``+`` and parsed
    with the default region ``region``, a valid number; ``None`` when only its full
    parse can tell.

    ``parse`` reads such a number as ``_maybe_extract_country_code`` and the national
    prefix step describe: a leading international prefix (``011``, ``00``) means an
    international number (``None`` here); a leading country code (``1``, ``44``) is
    dropped when the rest, national prefix stripped, fits the general pattern and the
    whole does not, or when the whole is too long; the national prefix (``1``, ``0``)
    is then stripped when what remains has a possible length.  The region among the
    country code's is picked as for ``international_valid``.
    """
    if region not in _plans:
        _plans[region] = _plan(region)
    plan = _plans[region]
    if plan is None or len(digits) < 3 or plan.international_prefix.match(digits):
        return None  # not viable to parse (under 3 digits), or international
    nsn = digits
    if digits.startswith(plan.country_code):
        rest = plan.strip_national_prefix(digits[len(plan.country_code) :])
        fits_once_stripped = not plan.general.fullmatch(digits) and plan.general.fullmatch(rest)
        if fits_once_stripped or plan.length(len(digits)) == _TOO_LONG:
            nsn = rest
    if len(nsn) < 2:
        return False
    stripped = plan.strip_national_prefix(nsn)
    if plan.length(len(stripped)) not in (_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH):
        nsn = stripped
    if len(nsn) > 17:
        return False
    # Leading zeros that survive (``_set_italian_leading_zeros_for_phone_number``) come
    # back unchanged in ``national_significant_number``: ``nsn`` is that string.
    return _valid_for(plan.regions, nsn)
