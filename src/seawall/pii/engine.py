"""The scanning engine: candidates from a backend, validators, decoded views, overlaps.

``Scanner`` is pure and thread-safe after construction; the module-level ``scan`` and
``redact`` use one shared instance on the fastest backend available.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Collection, Sequence
from operator import itemgetter

from seawall.pii.backends import Backend, best_backend
from seawall.pii.decoding import View, base64_values, mask, views
from seawall.pii.detectors import DETECTORS
from seawall.pii.finding import KNOWN_VALUE, PRIORITY, TAGS, Finding
from seawall.pii.known import KnownValues

#: Text that cannot hold any detectable entity matches none of these, so the common
#: case (a word, a title, a plain path) costs a few C-level searches.  Every detector
#: match contains a digit, "@", "%", "::", a hex colon pair or a 16-letter run, and
#: every encoded form contains "%" or an entity.  ``triggered`` searches the branches
#: one at a time: the alternation tried a 16-letter count at every letter of the text,
#: five times the cost of the separate searches.
TRIGGER = re.compile(r"[0-9@%]|[A-Fa-f]:[A-Fa-f:]|[A-Za-z_-]{16}|&[A-Za-z]+;")
_DIGIT_AT_PERCENT = re.compile(r"[0-9@%]")
_HEX_COLON = re.compile(r"[A-Fa-f]:[A-Fa-f:]")
_ENTITY_LIKE = re.compile(r"&[A-Za-z]+;")
#: Each ``redact`` pass can reveal a neighbour the pass before hid: a number glued to
#: a digit is refused, the same number next to the tag that replaced that digit is
#: not.  A text still holding findings after this many passes is withheld whole.
_MAX_REDACT_PASSES = 16
#: A cheaper superset of ``TRIGGER`` for ``redact``'s common case, a short clean
#: string (a button text, a browser name): two character-class searches instead of
#: one four-way alternation tried at every position.
_MAYBE = re.compile(r"[0-9@%:&]")
_LETTER_RUN = re.compile(r"[A-Za-z_-]{16}")
_START_END = itemgetter(1, 2)

#: A finding before it becomes a ``Finding``: (entity, start, end).
Span = tuple[str, int, int]


def triggered(text: str) -> bool:
    """``TRIGGER.search(text) is not None``, cheaper (see ``TRIGGER``)."""
    if _DIGIT_AT_PERCENT.search(text):
        return True
    if ":" in text and _HEX_COLON.search(text):
        return True
    if "&" in text and _ENTITY_LIKE.search(text):
        return True
    return len(text) >= 16 and _LETTER_RUN.search(text) is not None


def resolve(found: list[Span]) -> list[Span]:
    """Keep a non-overlapping subset: higher-priority entity first, then longer span.

    Returns the kept spans sorted by start.  Most texts hold no overlap at all (each
    finding once, apart from its duplicates out of decoded views); that case is one
    sort and one pass.
    """
    if len(found) <= 1:
        return [f for f in found if f[1] < f[2]]
    ordered = sorted(set(found), key=_START_END)
    previous_end = 0
    for _entity, start, end in ordered:
        if start < previous_end or start >= end:
            break
        previous_end = end
    else:
        return ordered
    ranked = sorted(
        (f for f in ordered if f[1] < f[2]), key=lambda f: (PRIORITY[f[0]], f[1] - f[2], f[1])
    )
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Span] = []
    for f in ranked:
        i = bisect_right(starts, f[1])
        if i > 0 and ends[i - 1] > f[1]:
            continue
        if i < len(starts) and starts[i] < f[2]:
            continue
        starts.insert(i, f[1])
        ends.insert(i, f[2])
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
        return [Finding(*f) for f in resolve(self.spans(text, entities, known))]

    def spans(
        self,
        text: str,
        entities: Collection[str] | None = None,
        known: KnownValues | None = None,
        *,
        nested: bool = False,
    ) -> list[Span]:
        """Every validated (entity, start, end) in ``text`` and its decoded views, overlaps
        included (``resolve`` picks among them); ``nested`` skips base64 values."""
        if not text:
            return []
        found: list[Span] = []
        text_views: list[View] | None = None
        if triggered(text):
            text_views = views(text)
            for view in text_views:
                self.detect(view, entities, found)
            if not nested and "=" in text:
                found.extend(self.base64_spans(text_views[:2], entities, known))
        if known:
            for view in text_views if text_views is not None else views(text):
                for start, end in known.find(view.text):
                    found.append((KNOWN_VALUE, *view.original_span(start, end)))
        return found

    def detect(self, view: View, entities: Collection[str] | None, out: list[Span]) -> None:
        """Validated spans of one view, in original offsets, appended to ``out``."""
        text = view.text
        for index, start, end in self.backend.candidates(mask(text)):
            detector = DETECTORS[index]
            if entities is not None and detector.entity not in entities:
                continue
            span = detector.validate(text, start, end)
            if span is not None:
                out.append((detector.entity, *view.original_span(*span)))

    def base64_spans(
        self,
        text_views: list[View],
        entities: Collection[str] | None,
        known: KnownValues | None = None,
    ) -> list[Span]:
        """Base64 parameter values of these views whose decoded text holds a finding,
        each reported on the whole value as its highest-priority entity."""
        found: list[Span] = []
        for view in text_views:
            for start, end, decoded in base64_values(view.text):
                inner = self.spans(decoded, entities, known, nested=True)
                if inner:
                    entity = min(inner, key=lambda f: PRIORITY[f[0]])[0]
                    found.append((entity, *view.original_span(start, end)))
        return found

    def scan_lines(
        self, lines: Sequence[str], entities: Collection[str] | None = None
    ) -> list[list[Finding]]:
        """``[scan(line) for line in lines]``, faster (see ``seawall.pii.lines``)."""
        return [[Finding(*f) for f in found] for found in self.spans_of_lines(lines, entities)]

    def spans_of_lines(
        self, lines: Sequence[str], entities: Collection[str] | None = None
    ) -> list[list[Span]]:
        """``scan_lines`` as (entity, start, end) tuples, for callers that only print them."""
        from seawall.pii.lines import spans_of_lines

        return spans_of_lines(self, lines, entities)

    def redact(
        self,
        text: str,
        known: KnownValues | None = None,
        entities: Collection[str] | None = None,
    ) -> str:
        """Replace every finding by its tag, until nothing is left to find.

        Replacing text can join its neighbours into a new candidate; re-scanning
        until a fixed point makes ``redact`` idempotent by construction.  Clean text
        costs one scan, text with findings usually two.  A text that reaches no fixed
        point within ``_MAX_REDACT_PASSES`` (a long chain of glued numbers, each
        revealed by the tag before it) becomes ``[REDACTED]`` as a whole: the cost
        stays bounded, nothing found is let through, and the result is still a
        fixed point.
        """
        if not _MAYBE.search(text) and "+" not in text:
            # No detector can fire and there is no decoded view: only known values can.
            clean = len(text) < 16 or not _LETTER_RUN.search(text)
            if clean and (not known or not known.find(text)):
                return text
        for _ in range(_MAX_REDACT_PASSES):
            findings = self.scan(text, entities, known)
            if not findings:
                return text
            text = apply_tags(text, findings)
        return TAGS[KNOWN_VALUE] if self.scan(text, entities, known) else text


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
