"""The metadata fast path for international numbers gives libphonenumber's verdict."""

from __future__ import annotations

import random
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from seawall.pii.numbering import international_valid, national_valid
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


def _national_forms(code: int, national: str) -> set[str]:
    """``national`` written as a NANP or UK number without ``+``: bare, grouped, with
    the trunk prefix, with the country code, in parentheses."""
    forms = {national, f"0{national}", f"1{national}", f"{code}{national}", f"00{national}"}
    if len(national) >= 7:
        head, mid, tail = national[:-7], national[-7:-4], national[-4:]
        forms |= {
            f"{head} {mid} {tail}".strip(),
            f"({head}) {mid}-{tail}" if head else f"{mid}-{tail}",
            f"1 ({head}) {mid}-{tail}",
            f"1-{head}-{mid}-{tail}",
            f"0{head} {mid} {tail}",
            f"(0{head}) {mid}.{tail}",
            f"{code} {head} {mid} {tail}",
            f"0 {national}",
        }
    return forms


def test_national_fast_path_agrees_with_libphonenumber() -> None:
    """Every example number of every region (and their mutations) written the national
    way, read as NANP or UK numbers: NANP and UK ones are mostly valid, the rest
    mostly not, and the fast path must give libphonenumber's verdict on all."""
    rng = random.Random(17)
    decided = total = valid = 0
    for code, example_number in _example_numbers():
        mutations = _variants(example_number, rng) if code in (1, 44) else {example_number}
        for national in mutations:
            for form in _national_forms(code, national):
                digits = re.sub("[^0-9]", "", form)
                if not 7 <= len(digits) <= 15:
                    continue
                total += 1
                region = "GB" if form.lstrip("(").startswith("0") else "US"
                verdict = national_valid(digits, region)
                if verdict is None:
                    continue
                decided += 1
                valid += verdict
                assert verdict == libphonenumber_valid(form), form
    assert decided > 0.85 * total  # the fast path must actually decide, not defer
    assert valid > 2000  # and not only refuse


_NATIONAL = st.tuples(
    st.sampled_from(["", "1", "0", "1 ", "0 ", "(", "1 (", "44", "44 ", "00", "011", "001"]),
    st.lists(st.text("0123456789", min_size=1, max_size=5), min_size=1, max_size=5),
    st.sampled_from([" ", "-", ".", "", ") ", " ("]),
).map(lambda t: t[0] + t[2].join(t[1]))


@settings(max_examples=2000, deadline=None)
@given(_NATIONAL)
@example("(202) 555-0143")  # NANP, national
@example("1 202 555 0143")  # NANP with the country code (or trunk prefix) 1
@example("020 7946 0958")  # UK, trunk prefix 0
@example("4420 7946 0958")  # UK with the country code, no +
@example("00 44 20 7946 0958")  # an international prefix: libphonenumber decides
@example("1 1 202 555 0143")  # 1s stripped as country code, then as trunk prefix
def test_national_validity_is_libphonenumbers_with_or_without_the_fast_path(
    candidate: str,
) -> None:
    if 7 <= len(re.sub("[^0-9]", "", candidate)) <= 15:
        assert _valid.__wrapped__(candidate) == libphonenumber_valid(candidate)
