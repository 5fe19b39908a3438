"""Batch scanning: many lines in a few Hyperscan calls, with the findings of ``scan``.

``seawall scan`` reads lines by the thousand.  Scanning them one at a time pays the
per-call costs (a Hyperscan call, masking, a scan of each decoded view) per line;
here the lines are joined with newlines and masked once, and a Hyperscan database
whose patterns are the detectors' followed by ``[^\\n]*\\n`` reports each (line,
pattern) pair exactly once, at the line's newline.  ``re`` then finds the exact
leftmost-first matches of only those patterns, inside only those lines of the joined
buffer (``pos``/``endpos``: no copy), and only candidates reach the validators, which
read the line itself.  The decoded views of all lines go through the same two steps
in a second buffer.  No pattern has anchors or look-around and none can match a
newline, so a pattern matches inside a line of the buffer exactly where it matches in
the line alone: the results are those of ``Scanner.scan`` line by line
(``tests/pii/test_batch.py`` checks the whole corpus and generated lines).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Collection, Iterator, Sequence
from itertools import accumulate
from operator import add
from typing import TYPE_CHECKING

from seawall.pii.backends import HyperscanBackend
from seawall.pii.decoding import View, mask, may_hold_base64, views
from seawall.pii.detectors import DETECTORS

if TYPE_CHECKING:
    from seawall.pii.engine import Scanner, Span


def spans_of_lines(
    scanner: Scanner, lines: Sequence[str], entities: Collection[str] | None
) -> list[list[Span]]:
    """``[resolve(scanner.spans(line, entities)) for line in lines]``, batched.

    Work is proportional to what the lines hold, not to their number: clean lines
    (most analytics strings) cost a share of the Hyperscan pass and of a few C-level
    list operations, and no Python step of their own.
    """
    from seawall.pii.engine import resolve, triggered

    backend = scanner.backend
    joined = "\n".join(lines)
    if not isinstance(backend, HyperscanBackend) or joined.count("\n") != len(lines) - 1:
        return [resolve(scanner.spans(line, entities)) for line in lines]
    wanted = [entities is None or d.entity in entities for d in DETECTORS]
    long_lines: set[int] = set()
    if lines and max(map(len, lines)) > backend.LONG:
        long_lines = {i for i, line in enumerate(lines) if len(line) > backend.LONG}
    found: dict[int, list[Span]] = {}
    if not long_lines:
        _confirm(backend, lines, mask(joined + "\n"), wanted, found, None)
    else:
        short = [i for i in range(len(lines)) if i not in long_lines]
        texts = [lines[i] for i in short]
        _confirm(backend, texts, mask("\n".join(texts) + "\n"), wanted, found, short)
    decoded: list[tuple[int, View]] = []
    base64_lines: list[tuple[int, list[View]]] = []
    for i in _lines_with(_DECODABLE, joined, lines):
        line = lines[i]
        if i in long_lines or not triggered(line):
            continue
        if "%" not in line and "&" not in line and "+" not in line:
            # Only "=": no decoded view, and base64 values only if one is shaped so.
            if may_hold_base64(line):
                base64_lines.append((i, [View(line)]))
            continue
        line_views = views(line)
        for view in line_views[1:]:
            if "\n" in view.text:  # an encoded newline: this view goes alone
                scanner.detect(view, entities, found.setdefault(i, []))
            else:
                decoded.append((i, view))
        if "=" in line and any(may_hold_base64(view.text) for view in line_views[:2]):
            base64_lines.append((i, line_views[:2]))
    if decoded:
        texts = [view.text for _, view in decoded]
        per_view: dict[int, list[Span]] = {}
        _confirm(backend, texts, mask("\n".join(texts) + "\n"), wanted, per_view, None)
        for k, spans in per_view.items():
            i, view = decoded[k]
            out = found.setdefault(i, [])
            for entity, start, end in spans:
                out.append((entity, *view.original_span(start, end)))
    for i, line_views in base64_lines:
        found.setdefault(i, []).extend(scanner.base64_spans(line_views, entities))
    results: list[list[Span]] = [[] for _ in lines]
    for i, spans in found.items():
        if spans and triggered(lines[i]):
            results[i] = resolve(spans)
    for i in long_lines:
        results[i] = resolve(scanner.spans(lines[i], entities))
    return results


#: The characters without which a line has no decoded view and no base64 value.
_DECODABLE = re.compile("[%+&=]")


def _lines_with(pattern: re.Pattern[str], joined: str, lines: Sequence[str]) -> Iterator[int]:
    """Indexes of the lines (newline-joined in ``joined``) in which ``pattern`` matches,
    one search per such line: clean lines are skipped at C speed."""
    starts = [0, *_line_ends(lines)]
    pos = 0
    while (m := pattern.search(joined, pos)) is not None:
        i = bisect_right(starts, m.start()) - 1
        yield i
        pos = starts[i + 1]


def _line_ends(texts: Sequence[str]) -> Iterator[int]:
    """The offset just past each text's newline once they are newline-joined (C-level
    iterators: no Python step per line)."""
    return map(add, accumulate(map(len, texts)), range(1, len(texts) + 1))


def _confirm(
    backend: HyperscanBackend,
    texts: Sequence[str],
    data: bytes,
    wanted: list[bool],
    out: dict[int, list[Span]],
    where: list[int] | None,
) -> None:
    """Validated spans of ``texts`` (masked and newline-joined in ``data``) into
    ``out[where[i]]`` (``out[i]`` without ``where``), in each text's own offsets; only
    texts with a candidate get an entry."""
    line_of = dict(zip(_line_ends(texts), range(len(texts)), strict=True))
    detectors = [
        (d.entity, d.validate, pattern.finditer) if wanted[i] else None
        for i, (d, pattern) in enumerate(zip(DETECTORS, backend.short, strict=True))
    ]
    i = -1
    text = ""
    base = 0
    spans: list[Span] = []
    for end, index in backend.line_hits(data):
        detector = detectors[index]
        if detector is None:
            continue
        if line_of[end] != i:  # Hyperscan reports a line's pairs together, at its newline
            i = line_of[end]
            text = texts[i]
            base = end - len(text) - 1
            spans = out.setdefault(i if where is None else where[i], [])
        entity, validate, finditer = detector
        for m in finditer(data, base, end - 1):
            start, stop = m.span()
            span = validate(text, start - base, stop - base)
            if span is not None:
                spans.append((entity, *span))
