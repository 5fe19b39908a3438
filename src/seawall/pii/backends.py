"""Candidate search backends: Hyperscan, then RE2, then Python ``re``, same results.

Every backend scans the *masked* text (see ``masking``): ASCII bytes, one byte per
character, so offsets are character offsets and no backend ever sees a surrogate.
``re`` and RE2 use leftmost-first semantics on the same patterns and so agree match
for match.  Hyperscan reports every match end with its leftmost start; we use those
only to find the regions where a pattern matches at all, then run the exact
leftmost-first engine inside each region.  A leftmost-first match always lies inside
one such region, so this yields the very same matches as scanning the whole text,
while the common case (no region at all) costs one Hyperscan call.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any, Protocol

from seawall.pii.detectors import DETECTORS, Detector

#: (detector index, start, end) in masked-text offsets.
Candidate = tuple[int, int, int]


class Backend(Protocol):
    """Finds pattern matches; validation happens elsewhere."""

    name: str

    def candidates(self, data: bytes) -> list[Candidate]:
        """All leftmost-first matches of every detector pattern in ``data``."""
        ...


class _Sequential:
    """Shared logic of ``re`` and RE2: one ``finditer`` per detector that may match."""

    name = "base"

    def __init__(self, compiled: Sequence[Any], detectors: Sequence[Detector]) -> None:
        self._compiled = compiled
        self._needs = [tuple(n.encode() for n in d.needs) for d in detectors]

    def candidates(self, data: bytes) -> list[Candidate]:
        found: list[Candidate] = []
        for index, pattern in enumerate(self._compiled):
            if not any(n in data for n in self._needs[index]):
                continue
            found.extend((index, m.start(), m.end()) for m in pattern.finditer(data))
        return found

    def finditer_from(self, index: int, data: bytes, pos: int) -> Any:
        """Leftmost-first matches of one detector starting the scan at ``pos``."""
        return self._compiled[index].finditer(data, pos)


class ReBackend(_Sequential):
    """Python's own ``re``: always available, the slowest."""

    name = "re"

    def __init__(self, detectors: Sequence[Detector] = DETECTORS) -> None:
        super().__init__([re.compile(d.pattern) for d in detectors], detectors)


class Re2Backend(_Sequential):
    """Google RE2: linear time, about half again as fast as ``re`` here."""

    name = "re2"

    def __init__(self, detectors: Sequence[Detector] = DETECTORS) -> None:
        import re2

        super().__init__([re2.compile(d.pattern) for d in detectors], detectors)


class HyperscanBackend:
    """Hyperscan says which patterns match; ``re`` (RE2 for long texts) says where.

    Hyperscan scans all patterns in one pass, so the common case (nothing matches)
    costs one call.  For the patterns it reports, the exact leftmost-first matches
    come from ``re``, which is faster than RE2's wrapper on short strings; texts
    longer than a few kilobytes go to RE2, whose running time is linear.  A
    start-of-match database would locate regions directly but takes seconds to
    compile, which every ``seawall scan`` process would pay.
    """

    name = "hyperscan"
    _LONG = 4096

    def __init__(self, detectors: Sequence[Detector] = DETECTORS) -> None:
        import hyperscan

        self._hs = hyperscan
        self._patterns = [d.pattern for d in detectors]
        self._which = self._compile(hyperscan.HS_FLAG_SINGLEMATCH)
        self._ends: Any = None  # compiled on first use by lines_with_matches
        self._local = threading.local()  # a Hyperscan scratch space serves one thread
        self._short = [re.compile(p) for p in self._patterns]
        self._long: Sequence[Any]
        try:
            import re2

            self._long = [re2.compile(p) for p in self._patterns]
        except ImportError:  # pragma: no cover - RE2 ships wherever Hyperscan does
            self._long = self._short

    def _compile(self, flag: int) -> Any:
        db = self._hs.Database(mode=self._hs.HS_MODE_BLOCK)
        ids = list(range(len(self._patterns)))
        db.compile(expressions=self._patterns, ids=ids, flags=[flag] * len(ids))
        return db

    def _scan(self, db: Any, kind: str, data: bytes) -> list[tuple[int, int]]:
        """(detector index, match end) for every match Hyperscan reports."""
        scratch = getattr(self._local, kind, None)
        if scratch is None:
            scratch = self._hs.Scratch(db)
            setattr(self._local, kind, scratch)
        hits: list[tuple[int, int]] = []

        def on_match(index: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            hits.append((index, end))

        db.scan(data, match_event_handler=on_match, scratch=scratch)
        return hits

    def candidates(self, data: bytes) -> list[Candidate]:
        hits = self._scan(self._which, "which", data)
        if not hits:
            return []
        compiled = self._long if len(data) > self._LONG else self._short
        found: list[Candidate] = []
        for index in sorted({index for index, _end in hits}):
            found.extend((index, m.start(), m.end()) for m in compiled[index].finditer(data))
        return found

    def lines_with_matches(self, data: bytes, line_ends: Sequence[int]) -> set[int]:
        """Indexes of the newline-joined lines in which any pattern matches.

        No pattern matches a newline, so one scan of many lines tells which of them
        need a closer look.
        """
        if self._ends is None:
            self._ends = self._compile(0)
        return {bisect_left(line_ends, end) for _index, end in self._scan(self._ends, "ends", data)}


def best_backend() -> Backend:
    """The fastest backend this platform can run."""
    try:
        return HyperscanBackend()
    except ImportError:
        pass
    try:
        return Re2Backend()
    except ImportError:
        return ReBackend()


def backend_named(name: str) -> Backend:
    """A specific backend, for tests and the benchmark."""
    factories: dict[str, type[Backend]] = {
        "hyperscan": HyperscanBackend,
        "re2": Re2Backend,
        "re": ReBackend,
    }
    return factories[name]()
