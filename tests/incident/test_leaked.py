"""Leaked files: every format the issue names, and malformed files. Each record ends up
matched, unknown or invalid (with its line); a file that cannot be read at all is a
clear error naming the file, the problem and the fix; nothing crashes or is skipped."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from seawall.core.crypto import pseudonym
from seawall.incident import match
from seawall.incident.directory import Person
from seawall.incident.errors import LeakedFileError
from seawall.incident.match import MatchResult, match_file

VENDOR_KEY = b"v" * 32
LEDGER_KEY = b"l" * 32
PEOPLE = {
    f"u{i}": Person(f"u{i}", f"p{i}@example.com", f"P {i}", "o1", "member", "en", "DE")
    for i in range(1, 6)
}


def _match(path: Path, data: bytes | None = None, **kw: object) -> MatchResult:
    if data is not None:
        path.write_bytes(data)
    return match_file(path, PEOPLE, vendor_key=VENDOR_KEY, ledger_key=LEDGER_KEY, **kw)  # type: ignore[arg-type]


def _counts(r: MatchResult) -> tuple[int, int, int, int]:
    return r.rows, r.matched, r.unknown, r.invalid


def _lines(r: MatchResult) -> list[int]:
    return [int(str(x["line"])) for x in r.invalid_lines]


P2 = pseudonym(VENDOR_KEY, "u2")
CSV_PEOPLE = b"user_id,email,name\nu1,,A\n" + P2.encode() + b",,B\n"
CSV_PEOPLE += b", P3@EXAMPLE.com\t,C\nx9,n@example.org,D\n"
MIXPANEL = b"\n".join(
    json.dumps(o).encode()
    for o in [
        {"$distinct_id": "u1", "$properties": {"$email": "x@example.org", "$name": "P 1"}},
        {"$distinct_id": P2, "$properties": {"$city": "Paris"}},
        {"$distinct_id": "zz", "$properties": {"$email": " P3@Example.COM ", "$name": "P"}},
        {"$distinct_id": "nobody", "$properties": {"$email": "n@example.org"}},
    ]
)


@pytest.mark.parametrize(
    ("name", "data", "counts", "methods"),
    [
        (
            "people.csv",
            CSV_PEOPLE,
            (4, 3, 1, 0),
            {"user_id": 1, "pseudonym": 1, "email": 1},
        ),
        (
            "people.ndjson",
            b'{"user_id": "u1"}\n\n{"email": "P4@example.com"}\n{"user_id": "x"}\n',
            (3, 2, 1, 0),
            {"user_id": 1, "email": 1},
        ),
        (
            "people.json",
            b'[{"user_id": "u1"}, {"email": "p5@EXAMPLE.com", "name": "E"}, {"id": "no"}]',
            (3, 2, 1, 0),
            {"user_id": 1, "email": 1},
        ),
        (
            "people.json",  # NDJSON under a .json name
            b'{"user_id": "u1"}\n{"user_id": "no"}\n',
            (2, 1, 1, 0),
            {"user_id": 1},
        ),
        ("mixpanel.ndjson", MIXPANEL, (4, 3, 1, 0), {"user_id": 1, "pseudonym": 1, "email": 1}),
    ],
)
def test_formats(
    tmp_path: Path, name: str, data: bytes, counts: tuple[int, ...], methods: dict[str, int]
) -> None:
    r = _match(tmp_path / name, data)
    assert _counts(r) == counts
    assert r.by_method == methods
    assert r.invalid_lines == []


def test_mixpanel_people_export_is_flattened(tmp_path: Path) -> None:
    r = _match(tmp_path / "people.ndjson", MIXPANEL)
    assert r.columns["$email"] == "user.contact.email"
    assert r.columns["$distinct_id"] == "user.unique_id"
    assert r.unknown_lines == [4]
    fields = {h.user_id: h.fields for h in r.hits}
    assert fields == {"u1": ("$distinct_id", "$email", "$name"), "u2": ("$city", "$distinct_id"),
                      "u3": ("$distinct_id", "$email", "$name")}  # fmt: skip


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "people.parquet"
    duckdb.sql(
        f"""COPY (SELECT * FROM (VALUES ('u1', NULL, 1), (NULL, ' P2@example.com', 2),
        ('x', 'n@example.org', NULL)) t(user_id, email, n)) TO '{path}' (FORMAT parquet)"""
    )
    r = _match(path)
    assert (r.file.format, _counts(r)) == ("parquet", (3, 2, 1, 0))
    assert r.unknown_lines == [3]


@pytest.mark.parametrize(
    ("name", "data", "counts", "lines", "reason"),
    [
        (
            "latin1.csv",
            b"user_id,email\nu1,p1@example.com\ncaf\xe9,x@example.org\nu2,\n",
            (3, 2, 0, 1),
            [3],
            "not UTF-8",
        ),
        (
            "ragged.csv",
            b"user_id,email\nu1\nu2,p2@example.com,x,y\nu3,p3@example.com\n\nu4,\n",
            (4, 2, 0, 2),
            [2, 3],
            "ragged",
        ),
        (
            "latin1.ndjson",
            b'{"user_id": "u1"}\n{"user_id": "caf\xe9"}\nnot json\n[1]\n{"user_id": "u2"}\n',
            (5, 2, 0, 3),
            [2, 3, 4],
            "",
        ),
        (
            "mixed.ndjson",  # one column, many JSON types
            b'{"user_id": "u1", "email": 5}\n{"user_id": 2, "email": "P3@example.com"}\n'
            b'{"user_id": null, "email": {"a": 1}}\n{"user_id": true}\n{"user_id": 1.5}\n',
            (5, 2, 3, 0),
            [],
            "",
        ),
        (
            "mixed.json",
            b'[{"user_id": "u1"}, {"user_id": 7, "email": ["x"]}, 3, "u2"]',
            (4, 1, 1, 2),
            [3, 4],
            "not a JSON object",
        ),
        (
            "mixed.csv",  # numbers, blanks and text in one column: read as text
            b"user_id,email,age\nu1,,31\nu2,,thirty\n3,,\n",
            (3, 2, 1, 0),
            [],
            "",
        ),
        ("header_only.csv", b"user_id,email\n", (0, 0, 0, 0), [], ""),
        ("empty_array.json", b"[]", (0, 0, 0, 0), [], ""),
    ],
)
def test_malformed_gives_partial_results(
    tmp_path: Path,
    name: str,
    data: bytes,
    counts: tuple[int, ...],
    lines: list[int],
    reason: str,
) -> None:
    r = _match(tmp_path / name, data)
    assert _counts(r) == counts
    assert _lines(r) == lines
    assert all(reason in str(x["reason"]) for x in r.invalid_lines)


def test_ragged_row_with_several_extra_columns_counts_once(tmp_path: Path) -> None:
    # DuckDB reports such a row once per extra column; it is still one invalid record.
    r = _match(tmp_path / "wide.csv", b"id,email\nu1,a\nu2,b,c,d,e\nu3,c\n")
    assert _counts(r) == (3, 2, 0, 1)
    assert _lines(r) == [3]


def test_outcomes_file_has_one_line_per_record(tmp_path: Path) -> None:
    out = tmp_path / "outcomes.csv"
    _match(tmp_path / "f.csv", b"user_id\nu1\ncaf\xe9\n\nnope\n", outcomes=out)
    assert out.read_text().splitlines() == [
        "line,outcome,method,user_id",
        "2,matched,user_id,u1",
        "3,invalid,not UTF-8,",
        "5,unknown,,",
    ]


@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
def test_outcomes_written_in_ranges_are_one_file_in_line_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # Ranges of lines are sorted and appended one by one: the file is the same however
    # many there are, with one header, and an invalid line in its place.
    monkeypatch.setattr(match, "_OUTCOME_CHUNK", chunk)
    out = tmp_path / "outcomes.csv"
    data = b"user_id\nu1\nnope\ncaf\xe9\n\nu2\nu3\nx\n"
    _match(tmp_path / "f.csv", data, outcomes=out)
    assert out.read_text().splitlines() == [
        "line,outcome,method,user_id",
        "2,matched,user_id,u1",
        "3,unknown,,",
        "4,invalid,not UTF-8,",
        "6,matched,user_id,u2",
        "7,matched,user_id,u3",
        "8,unknown,,",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv", "outcomes.csv"]


def test_outcomes_of_a_file_without_records_are_the_header(tmp_path: Path) -> None:
    out = tmp_path / "outcomes.csv"
    _match(tmp_path / "f.csv", b"user_id\n", outcomes=out)
    assert out.read_text().splitlines() == ["line,outcome,method,user_id"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "empty"),
        ("blank.ndjson", b"\n \n", "empty"),
        ("export.csv", gzip.compress(b"user_id\nu1\n"), "gzip"),
        ("export.json", b"PK\x03\x04rest-of-a-zip", "zip"),
        ("utf16.csv", "user_id\nu1\n".encode("utf-16"), "UTF-16"),
        ("ndjson.csv", b'{"user_id": "u1"}\n', "--format ndjson"),
        ("really.csv", b"PAR1\x00\x00", "--format parquet"),
        ("csv.parquet", b"user_id\nu1\n", "not a readable Parquet file"),
        ("broken.json", b'[{"user_id": "u1"}, {"user_id": ', "save it as NDJSON"),
        ("export.xlsx", b"x", "--format"),
        ("latin1_header.csv", b"caf\xe9,email\nu1,a\n", "header row is not UTF-8"),
        ("binary.csv", bytes(range(256)) * 8, "not readable as CSV"),
    ],
)
def test_unreadable_file_is_a_clear_error(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    with pytest.raises(LeakedFileError, match="Fix:") as err:
        _match(tmp_path / name, data)
    assert name in str(err.value)
    assert message in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LeakedFileError, match="no such file"):
        _match(tmp_path / "absent.csv")


def test_format_option_overrides_the_extension(tmp_path: Path) -> None:
    r = _match(tmp_path / "export.txt", b'{"user_id": "u1"}\n', fmt="ndjson")
    assert _counts(r) == (1, 1, 0, 0)


@pytest.mark.parametrize("extra", [3, 70])  # a bit per column up to 62, names beyond
def test_shown_columns_of_wide_files(tmp_path: Path, extra: int) -> None:
    cols = ["user_id", "email", *(f"c{i}" for i in range(extra))]
    rows = [
        ["u1", "", *("x" if i == extra - 1 else "" for i in range(extra))],
        ["", "p1@example.com", *("y" if i == 0 else "" for i in range(extra))],
        ["u2", "", *("" for _ in range(extra))],
    ]
    data = "\n".join(",".join(r) for r in [cols, *rows]).encode() + b"\n"
    r = _match(tmp_path / "wide.csv", data)
    fields = {h.user_id: h.fields for h in r.hits}
    assert fields == {
        "u1": tuple(sorted(("user_id", "email", "c0", f"c{extra - 1}"))),
        "u2": ("user_id",),
    }


@pytest.mark.parametrize("gaps", [3, 40], ids=["few-gaps", "many-gaps"])
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_line_numbers_survive_many_skipped_lines(tmp_path: Path, fmt: str, gaps: int) -> None:
    """Blank and undecodable lines shift the records after them; the outcomes name each
    record's physical line whether a few lines were skipped or many (two ways of
    renumbering: a CASE per record, or an ASOF join past 32 steps)."""
    head = [b"user_id,email"] if fmt == "csv" else []
    lines, expected, bad = list(head), {}, []
    for k in range(gaps * 3):
        if k % 3 == 1:
            lines.append(b"")
        elif k % 3 == 2 and k % 2:
            lines.append(b"caf\xe9,x" if fmt == "csv" else b'{"user_id": "caf\xe9"}')
            bad.append(len(lines))
        else:
            uid = f"u{k % 5 + 1}" if k % 4 else f"nobody{k}"
            lines.append(
                f"{uid},".encode() if fmt == "csv" else json.dumps({"user_id": uid}).encode()
            )
            expected[len(lines)] = "matched" if k % 4 else "unknown"
    out = tmp_path / "outcomes.csv"
    result = _match(tmp_path / f"f.{fmt}", b"\n".join(lines) + b"\n", outcomes=out)
    rows = [r.split(",") for r in out.read_text().splitlines()[1:]]
    assert {int(r[0]): r[1] for r in rows if r[1] != "invalid"} == expected
    assert _lines(result) == bad == [int(r[0]) for r in rows if r[1] == "invalid"]


def test_mixpanel_event_export_is_flattened(tmp_path: Path) -> None:
    rows = [
        {
            "event": "Signed In",
            "properties": {"distinct_id": f"u{i}", "$email": f"p{i}@example.com"},
        }
        for i in range(1, 4)
    ]
    r = _match(tmp_path / "events.ndjson", "\n".join(map(json.dumps, rows)).encode())
    assert _counts(r) == (3, 3, 0, 0)
    assert r.columns["$email"] == "user.contact.email"


def test_a_record_with_hundreds_of_odd_keys_cannot_hide_the_identity_columns(
    tmp_path: Path,
) -> None:
    # Keys are taken by how many records have them, not alphabetically: '!k000'...
    # in one record used to fill the column limit and leave everyone unknown.
    rows = [{"$email": f"p{i}@example.com", "$name": f"P {i}"} for i in range(1, 6)]
    rows.append({f"!k{n:03d}": n for n in range(300)})
    r = _match(tmp_path / "leak.ndjson", "\n".join(map(json.dumps, rows)).encode())
    assert _counts(r) == (6, 5, 1, 0)
    assert r.columns["$email"] == "user.contact.email"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("clash.ndjson", b'{"$email": "p1@example.com", "line": "secret-value"}\n'),
        ("quote.ndjson", b'{"$email": "p1@example.com", "note\\"s": "secret-value"}\n'),
    ],
)
def test_a_column_clashing_with_ours_is_a_clear_error_without_the_data(
    tmp_path: Path, name: str, data: bytes
) -> None:
    with pytest.raises(LeakedFileError, match="rename it") as caught:
        _match(tmp_path / name, data)
    assert "secret-value" not in str(caught.value)
    assert "p1@example.com" not in str(caught.value)


def test_csv_columns_named_like_ours_are_data(tmp_path: Path) -> None:
    # A CSV file's records are reduced to id, email and shown columns as they are read,
    # so its own 'line' or 'rn' column cannot clash with the ones matching adds.
    r = _match(tmp_path / "clash.csv", b"email,line,rn\np1@example.com,7,x\nnobody@example.org,,\n")
    assert _counts(r) == (2, 1, 1, 0)
    assert r.unknown_lines == [3]
    assert {h.user_id: h.fields for h in r.hits} == {"u1": ("email", "line", "rn")}


def test_a_file_name_with_glob_characters_is_read_as_itself(tmp_path: Path) -> None:
    # DuckDB expands [1] as a pattern: export_[1].csv used to read export_1.csv instead.
    (tmp_path / "export_1.csv").write_text("email\nnobody@example.com\n")
    r = _match(tmp_path / "export_[1].csv", b"email\np1@example.com\np2@example.com\n")
    assert _counts(r) == (2, 2, 0, 0)
    assert r.file.path.name == "export_[1].csv"
