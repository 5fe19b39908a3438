"""Known values: the subject's own name, email and phone, wherever they appear."""

from __future__ import annotations

import pytest

from seawall.pii import KnownValues, redact, scan

KNOWN = KnownValues(["Zoë Ångström", "zoe.angstrom@example.com", "+1 (202) 555-0143"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Welcome back, Zoë Ångström!", "Welcome back, [REDACTED]!"),
        ("WELCOME ZOE ANGSTROM", "WELCOME [REDACTED]"),
        ("Hi Zoe, your order", "Hi [REDACTED], your order"),
        ("Zoey and Angstroms", "Zoey and Angstroms"),
        ("/u/zoe.angstrom/settings", "/u/[REDACTED]/settings"),
        ("ref 2025550143", "ref [REDACTED]"),
        ("?n=Zo%C3%AB", "?n=[REDACTED]"),
        ("Zoe\u0308 decomposed", "[REDACTED] decomposed"),
    ],
)
def test_known_values(text: str, expected: str) -> None:
    assert redact(text, known=KNOWN) == expected


def test_detector_entity_wins_over_known_value_on_the_same_span() -> None:
    text = "mail zoe.angstrom@example.com"
    assert [f.entity for f in scan(text, known=KNOWN)] == ["EMAIL_ADDRESS"]


def test_tag_words_and_short_values_are_not_known_values() -> None:
    known = KnownValues(["Email", "Al", ""])
    assert not known
    assert redact("[EMAIL] Al", known=known) == "[EMAIL] Al"


def test_cached_instances_are_shared() -> None:
    values = frozenset({"Jane Doe"})
    assert KnownValues.cached(values) is KnownValues.cached(values)
