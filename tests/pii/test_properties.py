"""Properties over arbitrary input: offsets index the original, nothing raises,
redaction is idempotent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.pii import ENTITIES, KnownValues, redact, scan
from seawall.pii.engine import TRIGGER, apply_tags, triggered
from seawall.pii.finding import KNOWN_VALUE
from seawall.pii.known import _fold_char, _fold_with_map

_PIECES = st.sampled_from([
    "jane@example.com", "jane%40example.com", "%252B1%2B202", "+1 202-555-0143", "10.0.0.1",
    "fe80::1", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00", "536-22-1234",
    "https://bob:pw@example.com", "api_key=Zx9Qw3Er7Ty1Ui5Op2As", "&#64;", "?e=", "&", "=",
    "+", "%", "%C3%A9", "\udcff", "\x00", "\n", "é", "Zoë", "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.x",
])  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=12).map("".join),
)
KNOWN = KnownValues(["Zoë Doe", "jane@example.com"])


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_findings_are_sorted_disjoint_spans_of_the_original(text: str) -> None:
    findings = scan(text, known=KNOWN)
    pos = 0
    for f in findings:
        assert f.entity in ENTITIES or f.entity == KNOWN_VALUE
        assert pos <= f.start < f.end <= len(text)
        pos = f.end


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text, known=KNOWN)
    assert redact(once, known=KNOWN) == once


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=500))
def test_control_characters_never_raise(text: str) -> None:
    scan(text)
    redact(text)


def test_lone_surrogates_and_invalid_text() -> None:
    text = "\ud800 jane@example.com \udfff %ff%fe &#xD800; &#0;"
    assert [f.entity for f in scan(text)] == ["EMAIL_ADDRESS"]


def test_one_megabyte_lines() -> None:
    line = ("a" * 500 + " jane@example.com 1.2.3.4 " + "9" * 300 + "@") * 1250
    assert len(line) > 1_000_000
    findings = scan(line)
    assert len(findings) == 2500
    assert scan("x" * 1_000_000) == []
    assert scan("@" * 1_000_000 + "%" * 1000) == []


def _redact_by_scanning(text: str, known: KnownValues | None) -> str:
    """``redact`` without its clean-string shortcut: scan until nothing is found."""
    for _ in range(4):
        findings = scan(text, known=known)
        if not findings:
            break
        text = apply_tags(text, findings)
    return text


_SHORT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="abcXYZ _-:&+%@1éë—Zoë", max_size=40),
    st.sampled_from(["Chrome", "Sign up for free", "Zoë", "ZOE DOE", "a" * 16, "a:b", "&amp;"]),
)


@settings(max_examples=400, deadline=None)
@given(_SHORT, st.booleans())
def test_redact_shortcut_changes_nothing(text: str, with_known: bool) -> None:
    known = KNOWN if with_known else None
    assert redact(text, known=known) == _redact_by_scanning(text, known)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_folding_keeps_offsets(text: str) -> None:
    folded, starts = _fold_with_map(text)
    reference = [(i, _fold_char(ch)) for i, ch in enumerate(text)]
    assert folded == "".join(f for _, f in reference)
    if starts is None:
        assert all(len(f) == 1 for _, f in reference)
    else:
        assert starts == [i for i, f in reference for _ in f] + [len(text)]


_TRIGGER_TEXT = st.one_of(
    TEXT,
    st.text(alphabet="aAfF:&;_-xyz0@% é", max_size=40),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_- ", min_size=10, max_size=40),
)


@settings(max_examples=1000, deadline=None)
@given(_TRIGGER_TEXT)
def test_the_prefilter_searched_branch_by_branch_is_the_alternation(text: str) -> None:
    assert triggered(text) == (TRIGGER.search(text) is not None)
