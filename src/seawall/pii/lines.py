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

from collections.abc import Collection, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING

from seawall.pii.backends import HyperscanBackend
from seawall.pii.decoding import View, mask, views
from seawall.pii.detectors import DETECTORS

if TYPE_CHECKING:
    from seawall.pii.engine import Scanner, Span


def spans_of_lines(
    scanner: Scanner, lines: Sequence[str], entities: Collection[str] | None
) -> list[list[Span]]:
    """``[resolve(scanner.spans(line, entities)) for line in lines]``, batched."""
    from seawall.pii.engine import TRIGGER, resolve

    backend = scanner.backend
    joined = "\n".join(lines)
    if not isinstance(backend, HyperscanBackend) or joined.count("\n") != len(lines) - 1:
        return [resolve(scanner.spans(line, entities)) for line in lines]
    wanted = [entities is None or d.entity in entities for d in DETECTORS]
    long_lines = {i for i, line in enumerate(lines) if len(line) > backend.LONG}
    found: list[list[Span]] = [[] for _ in lines]
    if not long_lines:
        _confirm(backend, lines, mask(joined + "\n"), wanted, found, None)
    else:
        short = [i for i in range(len(lines)) if i not in long_lines]
        texts = [lines[i] for i in short]
        _confirm(backend, texts, mask("\n".join(texts) + "\n"), wanted, found, short)
    decoded: list[tuple[int, View]] = []
    base64_lines: list[tuple[int, list[View]]] = []
    for i, line in enumerate(lines):
        if ("%" in line or "+" in line or "&" in line or "=" in line) and i not in long_lines:
            if not TRIGGER.search(line):
                continue
            line_views = views(line)
            for view in line_views[1:]:
                if "\n" in view.text:  # an encoded newline: this view goes alone
                    scanner.detect(view, entities, found[i])
                else:
                    decoded.append((i, view))
            if "=" in line:
                base64_lines.append((i, line_views[:2]))
    if decoded:
        texts = [view.text for _, view in decoded]
        per_view: list[list[Span]] = [[] for _ in decoded]
        _confirm(backend, texts, mask("\n".join(texts) + "\n"), wanted, per_view, None)
        for (i, view), spans in zip(decoded, per_view, strict=True):
            out = found[i]
            for entity, start, end in spans:
                out.append((entity, *view.original_span(start, end)))
    for i, line_views in base64_lines:
        found[i].extend(scanner.base64_spans(line_views, entities))
    results: list[list[Span]] = []
    for i, spans in enumerate(found):
        if i in long_lines:
            results.append(resolve(scanner.spans(lines[i], entities)))
        elif spans and TRIGGER.search(lines[i]):
            results.append(resolve(spans))
        else:
            results.append([])
    return results


def _confirm(
    backend: HyperscanBackend,
    texts: Sequence[str],
    data: bytes,
    wanted: list[bool],
    out: list[list[Span]],
    where: list[int] | None,
) -> None:
    """Validated spans of ``texts`` (masked and newline-joined in ``data``) into
    ``out[where[i]]`` (``out[i]`` without ``where``), in each text's own offsets."""
    ends = list(accumulate(len(t) + 1 for t in texts))
    line_of = dict(zip(ends, range(len(texts)), strict=True))
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
            spans = out[i if where is None else where[i]]
        entity, validate, finditer = detector
        for m in finditer(data, base, end - 1):
            start, stop = m.span()
            span = validate(text, start - base, stop - base)
            if span is not None:
                spans.append((entity, *span))
