"""The metadata fast path for international numbers gives libphonenumber's verdict."""

from __future__ import annotations

import random
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from seawall.pii.numbering import international_valid
from seawall.pii.phone import _valid, libphonenumber_valid

_DESCS = ("general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost",
          "personal_number", "voip", "pager", "uan", "voicemail")  # fmt: skip


def _example_numbers() -> list[tuple[int, str]]:
    """(country code, national number) for every example in the metadata."""
    found = []
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            if region == "001":
                metadata = PhoneMetadata.metadata_for_nongeo_region(code, None)
            else:
                metadata = PhoneMetadata.metadata_for_region(region, None)
            if metadata is None:
                continue
            for name in _DESCS:
                desc = getattr(metadata, name)
                if desc is not None and desc.example_number:
                    found.append((code, desc.example_number))
    return found


def _variants(number: str, rng: random.Random) -> set[str]:
    """The number, one digit off, one shorter, one longer, a prefix 0 or 1 added."""
    out = {number, number[:-1], number + "5", number[1:], "0" + number, "1" + number}
    for _ in range(6):
        i = rng.randrange(len(number))
        out.add(number[:i] + str(rng.randrange(10)) + number[i + 1 :])
    return out


def test_fast_path_agrees_with_libphonenumber_on_every_example_number() -> None:
    rng = random.Random(13)
    decided = total = 0
    for code, example_number in _example_numbers():
        for national in _variants(example_number, rng):
            total += 1
            verdict = international_valid(f"{code}{national}")
            if verdict is None:
                continue
            decided += 1
            assert verdict == libphonenumber_valid(f"+{code} {national}"), (code, national)
    assert decided > total / 2  # the fast path must actually decide, not defer


_CODES = st.sampled_from(["1", "44", "33", "49", "91", "31", "55", "61", "34", "81", "39", "7",
                          "47", "262", "590", "599", "800", "979", "0", "2", "99"])  # fmt: skip
_CANDIDATE = st.tuples(
    _CODES,
    st.lists(st.text("0123456789", min_size=1, max_size=5), min_size=1, max_size=5),
    st.sampled_from([" ", "-", ".", "", " (", ") "]),
).map(lambda t: "+" + t[0] + t[2] + t[2].join(t[1]))


@settings(max_examples=3000, deadline=None)
@given(_CANDIDATE)
@example("+1 201-555-0123")  # NANP: the US region accepts it first
@example("+1 204-234-5678")  # NANP: Canada, after the regions before it refuse
@example("+44 7400 123456")  # several regions, leading digits decide
@example("+44 (0)20 7946 0958")  # a national prefix: libphonenumber decides
@example("+39 06 6982 0000")  # an Italian leading zero: libphonenumber decides
@example("+800 1234 5678")  # non-geographic: libphonenumber decides
def test_phone_validity_is_libphonenumbers_with_or_without_the_fast_path(candidate: str) -> None:
    if 7 <= len(re.sub("[^0-9]", "", candidate)) <= 15:
        assert _valid.__wrapped__(candidate) == libphonenumber_valid(candidate)
