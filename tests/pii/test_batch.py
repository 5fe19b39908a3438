"""The batched path (``Scanner.scan_lines``, ``seawall scan``'s reader) equals the
per-line path, and the Hyperscan database cache is only ever an optimisation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.cli import scan as cli
from seawall.pii.backends import backend_named, load_database
from seawall.pii.detectors import DETECTORS
from seawall.pii.engine import Scanner

hyperscan = pytest.importorskip("hyperscan")

CORPUS = Path(__file__).parents[1] / "data" / "pii" / "corpus.jsonl"
TEXTS = [json.loads(line)["text"] for line in CORPUS.read_text("utf-8").splitlines()]
SCANNER = Scanner(backend_named("hyperscan"))

_PIECES = st.sampled_from([
    "jane%40example.com", "%250A", "%0A", "a+b", "&#64;", "&amp;", "=", "?state=",
    "eyJlbWFpbCI6ImphbmVAZXhhbXBsZS5jb20ifQ", "\udcff", "\x00", "é", "+1 202-555-0143",
    "4111 1111 1111 1111", "x" * 5000,
    "?s=Y2FsbAorMSAyMDItNTU1LTAxNDM=",  # base64 of text holding a newline
    "&t%3DeyJlIjoiamFuZUBleGFtcGxlLmNvbSJ9",  # base64 behind an encoded "="
])  # fmt: skip
LINE = st.one_of(
    st.sampled_from(TEXTS),
    st.text(max_size=60).map(lambda t: t.replace("\n", " ")),
    st.lists(st.one_of(_PIECES, st.sampled_from(TEXTS)), max_size=5).map("".join),
)


@pytest.mark.parametrize(
    "entities", [None, {"PHONE_NUMBER"}, {"EMAIL_ADDRESS", "JWT", "IBAN_CODE"}]
)
def test_scan_lines_equals_scan_on_the_whole_corpus(entities: set[str] | None) -> None:
    assert SCANNER.scan_lines(TEXTS, entities) == [SCANNER.scan(t, entities) for t in TEXTS]


@settings(max_examples=200, deadline=None)
@given(st.lists(LINE, max_size=8))
def test_scan_lines_equals_scan_on_generated_lines(lines: list[str]) -> None:
    assert SCANNER.scan_lines(lines) == [SCANNER.scan(t) for t in lines]


def _old_reader(data: bytes) -> list[str]:
    """The line semantics ``seawall scan`` always had: one line per ``readline``."""
    out = []
    for raw in io.BytesIO(data):
        line = raw
        if line.endswith(b"\n"):
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        out.append(line.decode("utf-8", "surrogateescape"))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"\n", b"\r", b"\xc3\xa9", b"\xff", b"\xe2\x82", b" "])))
def test_chunked_reader_keeps_the_line_semantics(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    chunk = cli._CHUNK_BYTES
    try:
        cli._CHUNK_BYTES = 3  # cut lines and UTF-8 sequences across reads
        batches = list(cli._batches(io.BytesIO(data)))
    finally:
        cli._CHUNK_BYTES = chunk
    assert [line for batch in batches for line in batch] == _old_reader(data)


def test_database_cache_round_trip_and_corruption(tmp_path: Path) -> None:
    patterns = [d.pattern for d in DETECTORS]
    load_database(patterns, 0, tmp_path)
    (cached,) = tmp_path.iterdir()
    assert cached.stat().st_size > 0
    assert load_database(patterns, 0, tmp_path) is not None
    cached.write_bytes(b"not a database")
    db = load_database(patterns, 0, tmp_path)  # recompiled, and the file rewritten
    hits: list[int] = []
    db.scan(b"jane@example.com\n", match_event_handler=lambda i, *_: hits.append(i))
    assert set(hits) == {0}
    assert cached.read_bytes() != b"not a database"


def test_unwritable_cache_only_means_compiling(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert load_database([rb"a+"], 0, blocker / "sub") is not None


def _run(data: bytes, parallel: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, int]:
    monkeypatch.setattr(cli, "_CHUNK_BYTES", 4096)  # many blocks, cut mid-line
    monkeypatch.setattr(cli, "_PARALLEL_MIN_CHUNKS", 2 if parallel else 10**9)
    monkeypatch.setattr(cli, "_worker_count", lambda: 2)
    out = io.BytesIO()
    found = cli.run_scan(io.BytesIO(data), out, None)
    return out.getvalue(), found


def test_parallel_scan_writes_what_the_serial_scan_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    data = ("\n".join(TEXTS[:1500]) + "\r\nlast line without newline +1 202-555-0143").encode()
    serial = _run(data, False, monkeypatch)
    parallel = _run(data, True, monkeypatch)
    assert parallel == serial
    records = [json.loads(line) for line in serial[0].splitlines()]
    assert [r["line"] for r in records] == list(range(1, 1502))
    assert records[-1]["findings"] == [{"entity": "PHONE_NUMBER", "start": 26, "end": 41}]
    expected = [
        [{"entity": f.entity, "start": f.start, "end": f.end} for f in fs]
        for fs in SCANNER.scan_lines(TEXTS[:1500])
    ]
    assert [r["findings"] for r in records[:1500]] == expected


@pytest.mark.parametrize("limit", [32 << 20, 3000])
def test_lines_seen_before_are_reported_as_when_first_seen(
    limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeated lines come from ``seawall scan``'s memory of the lines it scanned, also
    when that memory is full and starts over mid-block, and per choice of entities."""
    monkeypatch.setattr(cli._Seen, "LIMIT", limit)
    monkeypatch.setattr(cli._Seen, "_current", None)
    monkeypatch.setattr(cli, "_CHUNK_BYTES", 4096)  # many blocks
    monkeypatch.setattr(cli, "_PARALLEL_MIN_CHUNKS", 10**9)
    texts = TEXTS[:400] * 3 + TEXTS[200:600]
    data = ("\n".join(texts) + "\n").encode()
    for entities in (None, frozenset({"PHONE_NUMBER"}), None):
        out = io.BytesIO()
        found = cli.run_scan(io.BytesIO(data), out, entities)
        records = [json.loads(line) for line in out.getvalue().splitlines()]
        expected = [
            [{"entity": f.entity, "start": f.start, "end": f.end} for f in fs]
            for fs in SCANNER.scan_lines(texts, entities)
        ]
        assert [r["findings"] for r in records] == expected
        assert [r["line"] for r in records] == list(range(1, len(texts) + 1))
        assert found == sum(map(len, expected))
