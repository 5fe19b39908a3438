"""Data found only after decoding is reported at its span in the original text."""

from __future__ import annotations

import base64

import pytest

from seawall.pii import redact, scan


@pytest.mark.parametrize(
    ("text", "entity", "original"),
    [
        ("?email=jane%40example.com&x=1", "EMAIL_ADDRESS", "jane%40example.com"),
        ("?email=jane%2540example.com", "EMAIL_ADDRESS", "jane%2540example.com"),
        ("?q=call+%2B1+202+555+0143&p=1", "PHONE_NUMBER", "%2B1+202+555+0143"),
        ("Signed in as jane&#64;example.com", "EMAIL_ADDRESS", "jane&#64;example.com"),
        ("jane&#x40;example.com", "EMAIL_ADDRESS", "jane&#x40;example.com"),
        ("z%C3%B6e%40example.com", "EMAIL_ADDRESS", "e%40example.com"),
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
