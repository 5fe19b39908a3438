"""The phone validator's length shortcut only ever refuses what libphonenumber refuses."""

from __future__ import annotations

import re

import phonenumbers
from hypothesis import example, given, settings
from hypothesis import strategies as st

from seawall.pii.phone import NATIONAL_LENGTHS, _may_be_valid, digits_of, libphonenumber_valid

_PREFIXES = st.sampled_from(["", "0", "00", "01", "011", "1", "11", "111", "1111", "10", "2", "44"])
_GROUPS = st.lists(st.text("0123456789", min_size=1, max_size=4), min_size=1, max_size=6)


def test_national_lengths_are_the_metadata_s() -> None:
    for code, lengths in NATIONAL_LENGTHS.items():
        union: set[int] = set()
        for region in phonenumbers.region_codes_for_country_code(code):
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
            assert metadata is not None
            assert metadata.general_desc is not None
            union.update(metadata.general_desc.possible_length)
        assert union == lengths


@settings(max_examples=3000, deadline=None)
@given(_PREFIXES, _GROUPS, st.sampled_from([" ", "-", ".", ""]), st.booleans())
@example("111", ["4686", "2150", "81"], "-", False)  # two 1s stripped: valid in Canada
@example("", ["310", "6532"], "-", False)  # a 7-digit Canadian number
def test_length_shortcut_refuses_only_invalid_numbers(
    prefix: str, groups: list[str], sep: str, parenthesised: bool
) -> None:
    first = prefix + groups[0]
    candidate = (f"({first}) " if parenthesised else first + sep) + sep.join(groups[1:])
    candidate = candidate.rstrip(sep + " ")
    digits = re.sub(r"[^0-9]", "", candidate)
    if not 7 <= len(digits) <= 15:
        return
    if not _may_be_valid(digits):
        assert not libphonenumber_valid(candidate)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="0123456789 ().-+x٣²\x00", max_size=20) | st.text(max_size=20))
def test_digits_of_is_the_ascii_digits(candidate: str) -> None:
    assert digits_of(candidate) == re.sub("[^0-9]", "", candidate)
