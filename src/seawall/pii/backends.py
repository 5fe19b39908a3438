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

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
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
        super().__init__([re.compile(d.re_pattern) for d in detectors], detectors)


class Re2Backend(_Sequential):
    """Google RE2: linear time, about half again as fast as ``re`` here."""

    name = "re2"

    def __init__(self, detectors: Sequence[Detector] = DETECTORS) -> None:
        super().__init__([re2_compile(d.pattern) for d in detectors], detectors)


class HyperscanBackend:
    """Hyperscan says which patterns match; ``re`` (RE2 for long texts) says where.

    Hyperscan scans all patterns in one pass, so the common case (nothing matches)
    costs one call.  For the patterns it reports, the exact leftmost-first matches
    come from ``re``, which is faster than RE2's wrapper on short strings; texts
    longer than a few kilobytes go to RE2, whose running time is linear.

    ``line_hits`` answers the batch question (which patterns match in which of many
    newline-joined lines) with a second database whose patterns are the detectors'
    followed by ``[^\\n]*\\n``: each matches once per line, at its newline, so one
    callback per (line, pattern) pair instead of one per match end.  No start of
    match is needed, so neither database pays for ``HS_FLAG_SOM_LEFTMOST``; both are
    compiled once per user and Hyperscan version and loaded from a cache after that.
    """

    name = "hyperscan"
    LONG = 4096

    def __init__(self, detectors: Sequence[Detector] = DETECTORS) -> None:
        import hyperscan

        self._hs = hyperscan
        patterns = [d.pattern for d in detectors]
        self._which = load_database(patterns, hyperscan.HS_FLAG_SINGLEMATCH)
        per_line = [b"(?:" + p + rb")[^\n]*\n" for p in patterns]
        self._per_line = load_database(per_line, 0)
        self._local = threading.local()  # a Hyperscan scratch space serves one thread
        self.short = [re.compile(d.re_pattern) for d in detectors]
        self._long: Sequence[Any]
        try:
            self._long = [re2_compile(p) for p in patterns]
        except ImportError:  # pragma: no cover - RE2 ships wherever Hyperscan does
            self._long = self.short

    def _scratch(self, kind: str, db: Any) -> Any:
        scratch = getattr(self._local, kind, None)
        if scratch is None:
            scratch = self._hs.Scratch(db)
            setattr(self._local, kind, scratch)
        return scratch

    def candidates(self, data: bytes) -> list[Candidate]:
        hits: set[int] = set()

        def on_match(index: int, _start: int, _end: int, _flags: int, _ctx: object) -> None:
            hits.add(index)

        self._which.scan(
            data, match_event_handler=on_match, scratch=self._scratch("which", self._which)
        )
        if not hits:
            return []
        compiled = self._long if len(data) > self.LONG else self.short
        found: list[Candidate] = []
        for index in sorted(hits):
            found.extend((index, m.start(), m.end()) for m in compiled[index].finditer(data))
        return found

    def line_hits(self, data: bytes) -> list[tuple[int, int]]:
        """(offset just past the newline, detector index) for every pattern that matches
        in a line of ``data``, which must end with a newline."""
        pairs: list[tuple[int, int]] = []
        append = pairs.append

        def on_match(index: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            append((end, index))

        db = self._per_line
        db.scan(data, match_event_handler=on_match, scratch=self._scratch("lines", db))
        return pairs


def re2_compile(pattern: bytes) -> Any:
    """``pattern`` compiled by RE2 for masked text: one byte a character, read as
    Latin-1 (RE2 would read ``\x80`` as a UTF-8 character, two bytes)."""
    import re2

    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    return re2.compile(pattern, options)


def _cache_dir() -> Path:
    return Path.home() / ".cache" / "seawall"


def load_database(patterns: Sequence[bytes], flag: int, cache_dir: Path | None = None) -> Any:
    """A block-mode Hyperscan database, from the per-user cache when it holds one.

    Compiling costs a noticeable part of a second (seconds with start-of-match), which
    every ``seawall scan`` process would pay; the serialised database loads in
    microseconds.  The key covers the patterns, the flags, the Hyperscan version and
    the machine, so a stale or foreign file is never used; an unreadable or
    unwritable cache only means compiling again.
    """
    import hyperscan

    version = str(getattr(hyperscan, "__version__", ""))
    parts = [*patterns, str(flag).encode(), version.encode(), _machine().encode()]
    key = hashlib.sha256(b"\0".join(parts)).hexdigest()[:24]
    path = (cache_dir or _cache_dir()) / f"hyperscan-{key}.db"
    try:
        return hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
    except (OSError, hyperscan.HyperscanError):
        pass
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    ids = list(range(len(patterns)))
    db.compile(expressions=list(patterns), ids=ids, flags=[flag] * len(ids))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(hyperscan.dumpb(db))
        partial.replace(path)  # atomic: concurrent processes never read half a file
    except OSError:
        pass
    return db


def _machine() -> str:
    """``platform.machine()``, which is ``os.uname().machine`` where ``os.uname``
    exists; importing ``platform`` cost a tenth of ``seawall scan``'s start-up."""
    if hasattr(os, "uname"):
        return os.uname().machine
    import platform  # pragma: no cover - Windows

    return platform.machine()  # pragma: no cover


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
