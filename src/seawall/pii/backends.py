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
    """Hyperscan block mode over all patterns at once, exact spans from RE2 or ``re``."""

    name = "hyperscan"

    def __init__(self, detectors: Sequence[Detector] = DETECTORS) -> None:
        import hyperscan

        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(
            expressions=[d.pattern for d in detectors],
            ids=list(range(len(detectors))),
            flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * len(detectors),
        )
        self._exact: _Sequential
        try:
            self._exact = Re2Backend(detectors)
        except ImportError:  # pragma: no cover - RE2 ships wherever Hyperscan does
            self._exact = ReBackend(detectors)

    def candidates(self, data: bytes) -> list[Candidate]:
        hits: list[tuple[int, int, int]] = []

        def on_match(index: int, start: int, end: int, _flags: int, _ctx: object) -> None:
            hits.append((index, start, end))

        self._db.scan(data, match_event_handler=on_match)
        if not hits:
            return []
        hits.sort()
        found: list[Candidate] = []
        index, start, end = hits[0]
        for h_index, h_start, h_end in hits[1:]:
            if h_index == index and h_start <= end:
                end = max(end, h_end)
                continue
            self._extract(index, data, start, end, found)
            index, start, end = h_index, h_start, h_end
        self._extract(index, data, start, end, found)
        return found

    def _extract(self, index: int, data: bytes, start: int, end: int, out: list[Candidate]) -> None:
        for m in self._exact.finditer_from(index, data, start):
            if m.start() >= end:
                break
            out.append((index, m.start(), m.end()))


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
