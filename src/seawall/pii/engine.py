"""The scanning engine: candidates from a backend, validators, decoded views, overlaps.

``Scanner`` is pure and thread-safe after construction; the module-level ``scan`` and
``redact`` use one shared instance on the fastest backend available.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Sequence
from itertools import accumulate

from seawall.pii.backends import Backend, HyperscanBackend, best_backend
from seawall.pii.decoding import View, base64_values, mask, views
from seawall.pii.detectors import DETECTORS
from seawall.pii.finding import KNOWN_VALUE, PRIORITY, TAGS, Finding
from seawall.pii.known import KnownValues

#: Text that cannot hold any detectable entity matches none of these, so the common
#: case (a word, a title, a plain path) costs one regex search.  Every detector match
#: contains a digit, "@", "%", "::", a hex colon pair or a 16-letter run, and every
#: encoded form contains "%" or an entity.
_TRIGGER = re.compile(r"[0-9@%]|[A-Fa-f]:[A-Fa-f:]|[A-Za-z_-]{16}|&[A-Za-z]+;")
_MAX_REDACT_PASSES = 4
#: A cheaper superset of ``_TRIGGER`` for ``redact``'s common case, a short clean
#: string (a button text, a browser name): two character-class searches instead of
#: one four-way alternation tried at every position.
_MAYBE = re.compile(r"[0-9@%:&]")
_LETTER_RUN = re.compile(r"[A-Za-z_-]{16}")


def resolve(findings: list[Finding]) -> list[Finding]:
    """Keep a non-overlapping subset: higher-priority entity first, then longer span."""
    if len(findings) <= 1:
        return [f for f in findings if f.start < f.end]
    ranked = sorted(
        {f for f in findings if f.start < f.end},
        key=lambda f: (PRIORITY[f.entity], f.start - f.end, f.start),
    )
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Finding] = []
    for f in ranked:
        i = bisect_right(starts, f.start)
        if i > 0 and ends[i - 1] > f.start:
            continue
        if i < len(starts) and starts[i] < f.end:
            continue
        starts.insert(i, f.start)
        ends.insert(i, f.end)
        kept.insert(i, f)
    return kept


class Scanner:
    """Finds entities in text with one backend; the API functions wrap an instance."""

    __slots__ = ("backend",)

    def __init__(self, backend: Backend | None = None) -> None:
        self.backend = backend if backend is not None else best_backend()

    def scan(
        self,
        text: str,
        entities: Collection[str] | None = None,
        known: KnownValues | None = None,
    ) -> list[Finding]:
        """Sorted, non-overlapping findings with offsets into ``text``."""
        return resolve(self._collect(text, entities, known, nested=False))

    def _collect(
        self,
        text: str,
        entities: Collection[str] | None,
        known: KnownValues | None,
        *,
        nested: bool,
    ) -> list[Finding]:
        if not text:
            return []
        found: list[Finding] = []
        text_views: list[View] | None = None
        if _TRIGGER.search(text):
            text_views = views(text)
            for view in text_views:
                self._detect(view, entities, found)
            if not nested and "=" in text:
                self._base64(text_views[:2], entities, known, found)
        if known:
            for view in text_views if text_views is not None else views(text):
                for start, end in known.find(view.text):
                    found.append(Finding(KNOWN_VALUE, *view.original_span(start, end)))
        return found

    def _detect(self, view: View, entities: Collection[str] | None, out: list[Finding]) -> None:
        text = view.text
        for index, start, end in self.backend.candidates(mask(text)):
            detector = DETECTORS[index]
            if entities is not None and detector.entity not in entities:
                continue
            span = detector.validate(text, start, end)
            if span is not None:
                out.append(Finding(detector.entity, *view.original_span(*span)))

    def _base64(
        self,
        text_views: list[View],
        entities: Collection[str] | None,
        known: KnownValues | None,
        out: list[Finding],
    ) -> None:
        for view in text_views:
            for start, end, decoded in base64_values(view.text):
                inner = self._collect(decoded, entities, known, nested=True)
                if inner:
                    entity = min(inner, key=lambda f: PRIORITY[f.entity]).entity
                    out.append(Finding(entity, *view.original_span(start, end)))

    def scan_lines(
        self, lines: Sequence[str], entities: Collection[str] | None = None
    ) -> list[list[Finding]]:
        """``[scan(line) for line in lines]``, faster (lines must not contain newlines).

        One Hyperscan pass over the joined lines says which patterns match in which
        line, and a second pass does the same for all decoded views at once; ``re``
        then confirms the exact spans only for those (line, pattern) pairs, and only
        candidates reach the validators.  The per-line work is otherwise exactly that
        of ``scan``, so the results are identical.
        """
        locate = getattr(self.backend, "line_hits", None)
        if locate is None or any("\n" in line for line in lines):
            return [self.scan(line, entities) for line in lines]
        wanted = _wanted(entities)
        raw_hits = _hits_per_line(locate, lines)
        line_views: dict[int, list[View]] = {}
        decoded: list[View] = []
        for i, line in enumerate(lines):
            if len(line) > HyperscanBackend.LONG or not _TRIGGER.search(line):
                continue
            line_views[i] = text_views = views(line)
            decoded.extend(v for v in text_views[1:] if "\n" not in v.text)
        view_hits = _hits_per_line(locate, [v.text for v in decoded])
        hits_of: dict[int, list[int]] = {id(v): h for v, h in zip(decoded, view_hits, strict=True)}
        results: list[list[Finding]] = []
        for i, line in enumerate(lines):
            if len(line) > HyperscanBackend.LONG:
                results.append(self.scan(line, entities))
                continue
            text_views_or_none = line_views.get(i)
            if text_views_or_none is None:
                results.append([])
                continue
            found: list[Finding] = []
            for n, view in enumerate(text_views_or_none):
                hits = raw_hits[i] if n == 0 else hits_of.get(id(view))
                if hits is None:
                    self._detect(view, entities, found)
                elif hits:
                    self._confirm(view, hits, wanted, found)
            if "=" in line:
                self._base64(text_views_or_none[:2], entities, None, found)
            results.append(resolve(found))
        return results

    def _confirm(
        self, view: View, hits: list[int], wanted: frozenset[int], out: list[Finding]
    ) -> None:
        """Exact spans and validation for the patterns Hyperscan found in ``view``."""
        backend = self.backend
        assert isinstance(backend, HyperscanBackend)
        text = view.text
        data = mask(text)
        for index in sorted(set(hits)):
            if index not in wanted:
                continue
            detector = DETECTORS[index]
            for m in backend.short[index].finditer(data):
                span = detector.validate(text, m.start(), m.end())
                if span is not None:
                    out.append(Finding(detector.entity, *view.original_span(*span)))

    def redact(
        self,
        text: str,
        known: KnownValues | None = None,
        entities: Collection[str] | None = None,
    ) -> str:
        """Replace every finding by its tag, until nothing is left to find.

        Replacing text can join its neighbours into a new candidate; re-scanning
        until a fixed point makes ``redact`` idempotent by construction.  Clean text
        costs one scan, text with findings usually two.
        """
        if not _MAYBE.search(text) and "+" not in text:
            # No detector can fire and there is no decoded view: only known values can.
            clean = len(text) < 16 or not _LETTER_RUN.search(text)
            if clean and (not known or not known.find(text)):
                return text
        for _ in range(_MAX_REDACT_PASSES):
            findings = self.scan(text, entities, known)
            if not findings:
                break
            text = apply_tags(text, findings)
        return text


def _wanted(entities: Collection[str] | None) -> frozenset[int]:
    """Indexes of the detectors whose entity was asked for."""
    return frozenset(i for i, d in enumerate(DETECTORS) if entities is None or d.entity in entities)


def _hits_per_line(
    locate: Callable[[bytes], list[tuple[int, int]]], texts: Sequence[str]
) -> list[list[int]]:
    """For each text, the detector indexes whose pattern matches in it (one scan)."""
    per_text: list[list[int]] = [[] for _ in texts]
    if not texts:
        return per_text
    line_of = {end: i for i, end in enumerate(accumulate(len(t) + 1 for t in texts))}
    for end, index in locate(mask("\n".join(texts) + "\n")):
        per_text[line_of[end]].append(index)
    return per_text


def apply_tags(text: str, findings: list[Finding]) -> str:
    """``text`` with each (sorted, non-overlapping) finding replaced by its tag."""
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(TAGS[f.entity])
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


_default: list[Scanner] = []


def default_scanner() -> Scanner:
    """The shared scanner, built on first use (compiling patterns takes a moment)."""
    if not _default:
        _default.append(Scanner())
    return _default[0]


def scan(
    text: str,
    entities: Collection[str] | None = None,
    known: KnownValues | None = None,
) -> list[Finding]:
    """Find personal data and secrets in ``text``.

    Returns sorted, non-overlapping findings whose offsets index ``text`` itself, also
    for data found only after percent, HTML-entity or base64 decoding.  ``entities``
    limits the detectors; known values are matched whenever ``known`` is given.
    """
    return default_scanner().scan(text, entities, known)


def redact(
    text: str,
    known: KnownValues | None = None,
    entities: Collection[str] | None = None,
) -> str:
    """``text`` with every finding replaced by a tag such as ``[EMAIL]``; idempotent."""
    return default_scanner().redact(text, known, entities)
