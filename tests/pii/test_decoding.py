"""Data found only after decoding is reported at its span in the original text."""

from __future__ import annotations

import base64
import html
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.pii import redact, scan
from seawall.pii.decoding import (
    _ENTITY_PATTERN,
    WORD_BYTE,
    View,
    _decode_bytes,
    decode_once,
    mask,
)


@pytest.mark.parametrize(
    ("text", "entity", "original"),
    [
        ("?email=jane%40example.com&x=1", "EMAIL_ADDRESS", "jane%40example.com"),
        ("?email=jane%2540example.com", "EMAIL_ADDRESS", "jane%2540example.com"),
        ("?q=call+%2B1+202+555+0143&p=1", "PHONE_NUMBER", "%2B1+202+555+0143"),
        ("Signed in as jane&#64;example.com", "EMAIL_ADDRESS", "jane&#64;example.com"),
        ("jane&#x40;example.com", "EMAIL_ADDRESS", "jane&#x40;example.com"),
        ("z%C3%B6e%40example.com", "EMAIL_ADDRESS", "z%C3%B6e%40example.com"),  # zöe@, whole
        (
            "?state=" + base64.urlsafe_b64encode(b'{"email":"jane@example.com"}').decode() + "&n=1",
            "EMAIL_ADDRESS",
            base64.urlsafe_b64encode(b'{"email":"jane@example.com"}').decode(),
        ),
        (
            "?u=" + base64.b64encode(b"jane@example.com").decode().rstrip("="),
            "EMAIL_ADDRESS",
            base64.b64encode(b"jane@example.com").decode().rstrip("="),
        ),
    ],
)
def test_decoded_findings_map_back(text: str, entity: str, original: str) -> None:
    findings = scan(text)
    assert [(f.entity, text[f.start : f.end]) for f in findings] == [(entity, original)]


def test_redacting_encoded_data_leaves_no_half() -> None:
    assert redact("/invite?email=jane%40example.com") == "/invite?email=[EMAIL]"


def test_binary_base64_is_not_decoded_text() -> None:
    assert scan("?sig=" + base64.b64encode(bytes(range(200, 232))).decode()) == []


def _reference_decode_once(text: str, *, plus_is_space: bool) -> View | None:
    """The decoder written position by position, every percent run through the byte
    by byte UTF-8 decoder: the engine's decoder must build the very same view."""
    escape = r"(?:%[0-9A-Fa-f]{2})+" + ("|" + _ENTITY_PATTERN if plus_is_space else "")
    out: list[str] = []
    starts: list[int] = []
    i = 0
    while i < len(text):
        m = re.compile(escape).match(text, i)
        if m is not None and m.group()[0] == "%":
            _decode_bytes(bytes.fromhex(m.group().replace("%", "")), i, out, starts)
            i = m.end()
        elif m is not None and html.unescape(m.group()) != m.group():
            out.append(html.unescape(m.group()))
            starts.extend([i] * len(out[-1]))
            i = m.end()
        else:
            out.append(" " if plus_is_space and text[i] == "+" else text[i])
            starts.append(i)
            i += 1
    starts.append(len(text))
    decoded = "".join(out)
    unchanged = decoded == text and starts == list(range(len(text) + 1))
    return None if unchanged and (not plus_is_space or "+" not in text) else View(decoded, starts)


_PIECES = ["%40", "%2B", "%25", "%C3%A9", "%E2%82%AC", "%F0%9F%98%80", "%FF", "%C3", "+",
           "&#64;", "&amp;", "&fjlig;", "&nosuch;", "&#x1F600;", "%2", "a", " ", "é", "\udcff",
           "=", "%%"]  # fmt: skip
_ENCODED = st.lists(st.sampled_from(_PIECES) | st.text(max_size=4), max_size=12).map("".join)


@settings(max_examples=2000, deadline=None)
@given(_ENCODED, st.booleans())
def test_decoding_builds_the_views_of_the_reference_decoder(text: str, plus: bool) -> None:
    assert decode_once(text, plus_is_space=plus) == _reference_decode_once(text, plus_is_space=plus)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_mask_is_one_byte_per_character(text: str) -> None:
    """ASCII as itself; a non-ASCII letter, digit or mark as ``WORD_BYTE`` (what an
    internationalised email address is written with); anything else as NUL."""
    expected = bytes(
        ord(ch) if ch.isascii()
        else WORD_BYTE if ch.isalnum() or unicodedata.category(ch).startswith("M")
        else 0
        for ch in text
    )  # fmt: skip
    assert mask(text) == expected


def test_mask_of_unencodable_text() -> None:
    assert mask("jos\u00e9\ud800e\u0301\u2605") == b"jos\x80\x00e\x80\x00"
