"""The bulk keyed hashes equal core.crypto's, value for value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from seawall.core.crypto import fingerprint, pseudonym
from seawall.incident.keyed import fingerprints, pseudonyms

# Every code point, lone surrogates included (core.crypto encodes with surrogatepass).
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
KEYS = st.binary(max_size=100)  # past 64 bytes HMAC hashes the key first


@given(key=KEYS, values=st.lists(ANY_TEXT, max_size=8))
def test_fingerprints_equal_core(key: bytes, values: list[str]) -> None:
    assert fingerprints(key, values) == [fingerprint(key, v) for v in values]


@given(key=KEYS, values=st.lists(ANY_TEXT, max_size=8))
def test_pseudonyms_equal_core(key: bytes, values: list[str]) -> None:
    assert pseudonyms(key, values) == [pseudonym(key, v) for v in values]


def test_normalisation_is_shared() -> None:
    key = b"k" * 32
    assert fingerprints(key, [" Alice@Example.COM\t", "ﬁ@example.com"]) == [
        fingerprint(key, "alice@example.com"),
        fingerprint(key, "fi@example.com"),  # NFKC folds the ligature
    ]
    assert pseudonyms(key, ["User-1"]) != pseudonyms(key, ["user-1"])  # ids keep their case
