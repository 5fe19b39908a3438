"""Validity of international phone numbers straight from libphonenumber's metadata.

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

``tests/pii/test_numbering.py`` compares the two on every example number of every
region, on mutations of them, and on generated strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

#: The type descriptions ``_number_type_helper`` tries after the general one.
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
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
    names = _TYPES if metadata.same_mobile_and_fixed_line_pattern else (*_TYPES, "mobile")
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
    if len(codes) == 1:
        return main.accepts(nsn)
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
