"""The removed-value check remembers outputs it found clean; it must answer exactly as
the check that searches every output of every event afresh."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.policy import removed
from seawall.policy.removed import _CLEAN_CHARS, _MAX_CLEAN, Leaks

KNOWN = ("José Müller", "ada.lovelace@example.com", "user-004217")

# Pieces that make outputs interesting for the check: the removed values and their other
# spellings, escapes the check decodes, and characters that end a memoisable output.
PIECES = [
    *KNOWN,
    "jose-muller",
    "Mu\u0308ller",
    "ada.lovelace",
    "ada%2Elovelace%40example.com",
    "ada%252Elovelace",
    "Jos\\u00e9",
    "&amp;",
    "&commat;",
    "&",
    ";",
    "?",
    "+",
    "%",
    "\\",
    "\x00",
    "é",
    "\u0308",
    "ada",
    "lovelace",
    "@example.com",
    base64.b64encode(b"xada.lovelace@example.com").decode(),
    "https://app.example/invite?t=",
    "Clicked",
    "/pricing",
    "4217",
]

outputs = st.lists(
    st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=4).map("".join),
    max_size=6,
)


@settings(max_examples=300)
@given(
    events=st.lists(st.tuples(outputs, st.lists(st.integers(), max_size=2)), max_size=8),
    known=st.lists(st.sampled_from(KNOWN), min_size=1, max_size=3, unique=True),
)
def test_remembered_clean_outputs_give_the_answers_of_a_fresh_search(
    events: list[tuple[list[str], list[int]]], known: list[str]
) -> None:
    remembering = Leaks(known)
    for texts, numbers in events:
        fresh = Leaks(known)
        fresh.clean = None  # searches everything, every time
        expected = fresh.may_hide(list(texts), list(numbers))
        assert remembering.may_hide(list(texts), list(numbers)) == expected
        # and again, now that the clean outputs of this event are remembered
        assert remembering.may_hide(list(texts), list(numbers)) == expected


def test_a_value_that_spans_two_outputs_is_searched_without_the_memo() -> None:
    # A removed value holding the separator could match across two joined outputs:
    # such a finder searches every output every time.
    assert Leaks(["ab\x00cd"]).clean is None
    assert Leaks(["ada.lovelace@example.com"]).clean == set()


def test_outputs_seen_clean_are_not_searched_again() -> None:
    leaks = Leaks(["ada.lovelace@example.com"])
    assert not leaks.may_hide(["Clicked", "/pricing", "a?b=1"], [])
    assert leaks.clean == {"Clicked", "/pricing"}  # '?' (URL parameters): never remembered
    assert leaks.may_hide(["Clicked", "ada.lovelace@example.com"], [])
    assert "ada.lovelace@example.com" not in (leaks.clean or set())


def test_the_outputs_remembered_stay_bounded() -> None:
    leaks = Leaks(["ada.lovelace@example.com"])
    for i in range(500):  # every event brings its own id
        assert not leaks.may_hide(["Clicked", f"id-{i:08x}"], [])
        assert leaks.clean is not None
        assert len(leaks.clean) <= _MAX_CLEAN


def test_long_outputs_are_not_remembered_and_one_event_cannot_pass_the_cap() -> None:
    leaks = Leaks(["ada.lovelace@example.com"])
    long = "x" * (_CLEAN_CHARS + 1)
    assert not leaks.may_hide([long, *(f"o{i}" for i in range(3 * _MAX_CLEAN))], [])
    assert leaks.clean is not None
    assert long not in leaks.clean
    assert len(leaks.clean) <= _MAX_CLEAN


def test_all_finders_together_stay_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # A client sending a new user per event, each with kept strings: the finders are
    # cached, and their memos must not grow with the number of users.
    monkeypatch.setattr(removed, "_CLEAN_BUDGET", 64 * 1024)
    monkeypatch.setattr(removed._spent, "bytes", 0)
    monkeypatch.setattr(removed, "_LEAKS", {})
    for user in range(2_000):
        leaks = Leaks.cached((f"user{user}@example.com",))
        outputs = [f"{user}-{i}-" + "p" * 150 for i in range(4)]
        assert not leaks.may_hide(outputs, [])
    held = sum(
        len(t) + removed._CLEAN_ENTRY_BYTES
        for f in removed._LEAKS.values()
        for t in (f.clean or ())
    )
    assert held <= 64 * 1024
    assert removed._spent.bytes <= 64 * 1024
    assert any(f.clean for f in removed._LEAKS.values())  # still remembering
