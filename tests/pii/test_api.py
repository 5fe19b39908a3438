"""The public API others code against: names, shapes and the basic promises."""

from __future__ import annotations

import pytest

from seawall.core.errors import PolicyError
from seawall.pii import (
    DEFAULT_ALLOWED_PARAMS,
    ENTITIES,
    Finding,
    KnownValues,
    redact,
    scan,
    scrub_url,
)


def test_scan_returns_sorted_findings_in_original_offsets() -> None:
    text = "mail jane@example.com or call +1 202-555-0143"
    findings = scan(text)
    assert findings == [
        Finding("EMAIL_ADDRESS", 5, 21),
        Finding("PHONE_NUMBER", 30, 45),
    ]


def test_entities_limit_the_detectors() -> None:
    text = "jane@example.com +1 202-555-0143"
    assert [f.entity for f in scan(text, entities={"PHONE_NUMBER"})] == ["PHONE_NUMBER"]


def test_redact_uses_tags() -> None:
    assert redact("jane@example.com, 10.1.2.3") == "[EMAIL], [IP]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # each number is glued to the one before: the tag of one reveals the next
        ("0@0.AA" + "+12012000000" * 4, "[EMAIL]" + "[PHONE]" * 4),
        ("0@0.AA" + "+12012000000" * 40, "[REDACTED]"),  # no fixed point within the passes
    ],
)
def test_redact_reaches_a_fixed_point_or_withholds_the_text(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


def test_known_values_redact_names() -> None:
    known = KnownValues(["Zoë Ångström", "zoe@example.com"])
    assert redact("Thanks ZOE angstrom!", known=known) == "Thanks [REDACTED]!"


def test_scrub_url_keeps_utm_and_drops_the_rest() -> None:
    url = "https://example.com/invite/jane%40example.com?utm_source=news&email=x#token=abc"
    assert scrub_url(url) == "https://example.com/invite/[EMAIL]?utm_source=news"
    assert "utm_source" in DEFAULT_ALLOWED_PARAMS


def test_scrub_url_fails_closed() -> None:
    with pytest.raises(PolicyError):
        scrub_url("$direct")


def test_entities_are_presidio_names() -> None:
    assert "EMAIL_ADDRESS" in ENTITIES
    assert "US_SSN" in ENTITIES
