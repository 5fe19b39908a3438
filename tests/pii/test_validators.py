"""The validators' fast checks agree with the reference implementations they replace."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.pii.validators import domain_labels_ok, iban_ok, ipv4_ok, luhn_ok

_OCTET = st.text("0123456789", min_size=1, max_size=3)
_IBAN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@settings(max_examples=2000, deadline=None)
@given(st.lists(_OCTET, min_size=4, max_size=4).map(".".join))
def test_ipv4_ok_is_ipaddress_s_rule(dotted: str) -> None:
    try:
        ipaddress.IPv4Address(dotted)
    except ValueError:
        assert not ipv4_ok(dotted)
    else:
        assert ipv4_ok(dotted)


@settings(max_examples=2000, deadline=None)
@given(st.text(_IBAN_CHARS, min_size=15, max_size=34))
def test_iban_ok_is_iso_13616_mod_97(compact: str) -> None:
    rearranged = compact[4:] + compact[:4]
    assert iban_ok(compact) == (int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1)


def test_iban_ok_on_known_values() -> None:
    assert iban_ok("GB82WEST12345698765432")
    assert not iban_ok("GB82WEST12345698765433")


def _luhn_reference(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


@settings(max_examples=2000, deadline=None)
@given(st.text("0123456789", min_size=1, max_size=19))
def test_luhn_ok_is_the_luhn_checksum(digits: str) -> None:
    assert luhn_ok(digits) == _luhn_reference(digits)


@settings(max_examples=3000, deadline=None)
@given(
    st.text("a-.", max_size=12)
    | st.lists(st.text("ab-", max_size=70), min_size=1, max_size=4).map(".".join)
)
def test_domain_labels_ok_is_the_rule_on_each_label(domain: str) -> None:
    labels = domain.split(".")
    expected = all(lab and len(lab) <= 63 and lab[0] != "-" and lab[-1] != "-" for lab in labels)
    assert domain_labels_ok(domain) == expected
