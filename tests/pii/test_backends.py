"""Hyperscan, RE2 and ``re`` backends give identical findings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.pii.backends import backend_named
from seawall.pii.decoding import mask
from seawall.pii.detectors import DETECTORS
from seawall.pii.engine import Scanner

CORPUS = Path(__file__).parents[1] / "data" / "pii" / "corpus.jsonl"
TEXTS = [json.loads(line)["text"] for line in CORPUS.read_text("utf-8").splitlines()]


def _scanners() -> dict[str, Scanner]:
    result = {}
    for name in ("hyperscan", "re2", "re"):
        try:
            result[name] = Scanner(backend_named(name))
        except ImportError:
            continue
    return result


SCANNERS = _scanners()
REFERENCE = SCANNERS["re"]


@pytest.mark.parametrize("name", [n for n in SCANNERS if n != "re"])
def test_backends_agree_on_the_corpus(name: str) -> None:
    scanner = SCANNERS[name]
    for text in TEXTS[:1500]:
        assert scanner.scan(text) == REFERENCE.scan(text), text


@pytest.mark.parametrize("name", list(SCANNERS))
def test_scan_lines_equals_scanning_each_line(name: str) -> None:
    scanner = SCANNERS[name]
    lines = TEXTS[:800]
    assert scanner.scan_lines(lines) == [scanner.scan(t) for t in lines]


#: Internationalised addresses and other non-ASCII text (the masked byte ``\x80``).
NON_ASCII = [text for text in TEXTS if not text.isascii()]


@pytest.mark.parametrize("name", [n for n in SCANNERS if n != "re"])
def test_backends_agree_on_non_ascii_text(name: str) -> None:
    assert len(NON_ASCII) > 100
    scanner = SCANNERS[name]
    for text in NON_ASCII:
        assert scanner.scan(text) == REFERENCE.scan(text), text
    assert scanner.scan_lines(NON_ASCII) == [REFERENCE.scan(t) for t in NON_ASCII]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(TEXTS[:200] + NON_ASCII[:100]) | st.text(max_size=30), max_size=6).map(
        " ".join
    )
)
def test_backends_agree_on_mixtures(text: str) -> None:
    expected = REFERENCE.scan(text)
    for scanner in SCANNERS.values():
        assert scanner.scan(text) == expected


_FAST = [d for d in DETECTORS if d.for_re]
_NEAR_MISSES = st.text(alphabet="aZ09_+-.@()= :/xtokenAPIpsw\"'", max_size=60)


def _spans(pattern: bytes, data: bytes) -> list[tuple[int, int]]:
    return [m.span() for m in re.compile(pattern).finditer(data)]


def test_re_patterns_match_where_the_shared_patterns_match_on_the_corpus() -> None:
    assert _FAST  # the test must compare something
    data = mask("\n".join(TEXTS))
    for d in _FAST:
        assert _spans(d.re_pattern, data) == _spans(d.pattern, data), d.entity


@settings(max_examples=500, deadline=None)
@given(_NEAR_MISSES | st.sampled_from(TEXTS[:300]) | st.text(max_size=40))
def test_re_patterns_match_where_the_shared_patterns_match(text: str) -> None:
    data = mask(text)
    for d in _FAST:
        assert _spans(d.re_pattern, data) == _spans(d.pattern, data), d.entity
