# ruff: noqa: S608  (DuckDB SQL is built from names quoted by _q and literals by _lit)
"""Reading what a vendor handed over into DuckDB, one row per leaked record.

Formats: CSV (header row), NDJSON, JSON (an array of objects, or NDJSON under a
``.json`` name), Parquet. The Mixpanel people-export shape
``{"$distinct_id": ..., "$properties": {"$email": ...}}`` is flattened: the
properties become columns beside ``$distinct_id``.

Every record ends up either in table ``leak(line, <columns as VARCHAR>)`` (or what a
caller's ``shape`` makes of those columns) or in table ``bad(line, reason)``; nothing
is skipped silently. ``line`` is the physical line in
the file (CSV, NDJSON) or the record's position (JSON arrays, Parquet). Blank lines are
not records. Known limit: a quoted CSV field spanning lines shifts the line numbers
reported after it (the counts stay right).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seawall.incident.errors import LeakedFileError

FORMATS = ("csv", "ndjson", "json", "parquet")
# Given the file's columns, the SQL select list a caller wants kept per record.
Shape = Callable[[tuple[str, ...]], str]
_PROPS = "$properties"
_MAX_COLUMNS = 200


@dataclass(frozen=True, slots=True)
class LeakedFile:
    path: Path
    format: str
    columns: tuple[str, ...]  # as named in the file (flattened for the Mixpanel shape)
    rows: int  # records, valid or not
    bad: int


def detect_format(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext in ("jsonl", "ndjson"):
        return "ndjson"
    if ext in ("csv", "tsv", "txt"):
        return "csv"
    if ext in ("parquet", "pq"):
        return "parquet"
    if ext == "json":
        with path.open("rb") as fh:
            head = fh.read(4096).lstrip()
        return "json" if head.startswith(b"[") else "ndjson"
    raise LeakedFileError(
        f"{path.name}: cannot tell the format from the extension '.{ext}'. "
        f"Fix: pass --format (one of {', '.join(FORMATS)})"
    )


_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed", "decompress it first (gunzip)"),
    (b"PK\x03\x04", "a zip archive", "unzip it first"),
    (b"\xff\xfe", "UTF-16 text", "save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text", "save it as UTF-8"),
    (b"PAR1", "a Parquet file", "pass --format parquet"),
)


def check_content(path: Path, fmt: str) -> None:
    """Refuse a file whose first bytes contradict its format, rather than reading garbage
    as records: an empty file, a compressed one, UTF-16, JSON named ``.csv`` and so on."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        raise LeakedFileError(
            f"{path.name}: the file is empty, so there is nothing to match. "
            "Fix: ask the vendor for the export again"
        )
    if fmt == "parquet":
        return  # DuckDB checks the Parquet magic itself, and says so
    for magic, what, fix in _MAGIC:
        if head.startswith(magic):
            raise LeakedFileError(f"{path.name}: read as {fmt}, but the file is {what}. Fix: {fix}")
    if fmt == "csv" and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        raise LeakedFileError(
            f"{path.name}: read as CSV, but the file starts like JSON. "
            "Fix: pass --format ndjson (one object per line) or --format json (an array)"
        )


def _x(con: Any, sql: str, params: list[object] | None = None) -> None:
    """Run a statement to completion (DuckDB wants every result consumed)."""
    con.execute(sql, params or []).fetchall()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def drop_tables(con: Any, *names: str) -> None:
    """Drop these tables or views, those that exist."""
    found = dict(
        con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_name IN (SELECT unnest(?))",
            [list(names)],
        ).fetchall()
    )
    for name, kind in found.items():
        _x(con, f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {_q(name)}")


def _clear_rejects(con: Any) -> None:
    _x(con, "DROP TABLE IF EXISTS reject_errors")
    _x(con, "DROP TABLE IF EXISTS reject_scans")


# Up to this many renumbering steps are applied as one CASE per record; beyond, as an
# ASOF join (which sorts every column of the table: ten times the CPU at 10M rows).
_CASE_STEPS = 32


def _physical(con: Any, table: str, excluded: str, *, into: str | None = None) -> None:
    """Renumber ``table.rn`` (k-th surviving record) to the physical line, given the
    table ``excluded(line)`` of lines that produced no record. ``into``: a view of that
    name instead of rewriting ``table`` (ten million rows are then renumbered while the
    next step reads them, not copied once more)."""
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE _thr AS
        SELECT t, max(n) AS n FROM (
          SELECT line - (row_number() OVER (ORDER BY line) - 1) AS t,
                 row_number() OVER (ORDER BY line) AS n FROM {excluded}) GROUP BY t""",
    )
    kind = "VIEW" if into else "TABLE"
    steps = con.execute(f"SELECT t, n FROM _thr ORDER BY t DESC LIMIT {_CASE_STEPS + 1}")
    thresholds = steps.fetchall()
    if len(thresholds) <= _CASE_STEPS:
        # From record rn on, n lines before it produced no record: the last step wins.
        whens = " ".join(f"WHEN x.rn >= {int(t)} THEN {int(n)}" for t, n in thresholds)
        shift = f"CASE {whens} ELSE 0 END" if whens else "0"
        _x(
            con,
            f"""CREATE OR REPLACE TEMP {kind} {into or table} AS
            SELECT x.* EXCLUDE (rn), x.rn + {shift} AS line FROM {table} x""",
        )
        return
    _x(
        con,
        f"""CREATE OR REPLACE TEMP {kind} {into or table} AS
        SELECT x.* EXCLUDE (rn), x.rn + coalesce(th.n, 0) AS line
        FROM {table} x ASOF LEFT JOIN _thr th ON x.rn >= th.t""",
    )


def _read_lines(con: Any, path: Path, *, blank_only: bool = False) -> None:
    """``lines(line, raw)`` with physical line numbers (``blank_only``: only the blank
    ones, which is all the CSV reader needs: ten million lines are not kept twice);
    lines DuckDB cannot decode go to ``bad``."""
    _clear_rejects(con)
    where = "WHERE raw IS NULL OR trim(raw) = ''" if blank_only else ""
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE lines AS SELECT * FROM (
        SELECT raw, row_number() OVER () AS rn FROM read_csv({_lit(str(path))},
          columns={{'raw': 'VARCHAR'}}, header=false, delim=E'\\x01', quote='', escape='',
          auto_detect=false, ignore_errors=true, store_rejects=true, strict_mode=false)) {where}""",
    )
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE bad AS
        SELECT line::BIGINT AS line,
          min(CASE WHEN error_type = 'INVALID ENCODING' THEN 'not UTF-8'
               ELSE lower(error_type) END) AS reason FROM reject_errors GROUP BY line""",
    )
    _x(con, "CREATE OR REPLACE TEMP TABLE _ex AS SELECT line FROM bad")
    _physical(con, "lines", "_ex")


def read_ndjson(con: Any, path: Path, line_col: str = "line") -> tuple[str, ...]:
    _read_lines(con, path)
    _x(
        con,
        """INSERT INTO bad SELECT line,
          CASE WHEN NOT json_valid(raw) THEN 'not valid JSON' ELSE 'not a JSON object' END
        FROM lines WHERE raw IS NOT NULL AND trim(raw) <> ''
          AND (NOT json_valid(raw) OR json_type(raw::JSON) <> 'OBJECT')""",
    )
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE objs AS SELECT line, raw::JSON AS j FROM lines
        WHERE raw IS NOT NULL AND trim(raw) <> '' AND json_valid(raw)
          AND json_type(raw::JSON) = 'OBJECT'""",
    )
    return _flatten(con)


def read_json_array(con: Any, path: Path) -> tuple[str, ...]:
    try:
        _x(
            con,
            f"""CREATE OR REPLACE TEMP TABLE objs AS SELECT row_number() OVER () AS line,
            json AS j FROM read_json_objects({_lit(str(path))}, format='array')""",
        )
    except Exception as exc:  # duckdb raises its own types; the message says what broke
        raise LeakedFileError(
            f"{path.name}: not a readable JSON array ({str(exc).splitlines()[0]}). "
            "Fix: check the file, or save it as NDJSON (one object per line) so that "
            "readable records are kept and bad lines are reported one by one"
        ) from None
    _x(con, "CREATE OR REPLACE TEMP TABLE bad (line BIGINT, reason VARCHAR)")
    _x(
        con,
        "INSERT INTO bad SELECT line, 'not a JSON object' FROM objs WHERE json_type(j) <> 'OBJECT'",
    )
    _x(con, "DELETE FROM objs WHERE json_type(j) <> 'OBJECT'")
    return _flatten(con)


def _flatten(con: Any) -> tuple[str, ...]:
    """objs(line, j) -> leak(line, columns...): top-level keys, plus ``$properties``."""
    # The keys most records have come first: a few records with hundreds of odd keys
    # (a careless export, or one planted by whoever hands the file over) must not push
    # the identity columns out of the column limit.
    top = [
        r[0]
        for r in con.execute(
            """SELECT k FROM (SELECT unnest(json_keys(j)) AS k FROM objs)
            GROUP BY k ORDER BY count(*) DESC, k LIMIT ?""",
            [_MAX_COLUMNS],
        ).fetchall()
    ]
    nested = next((k for k in (_PROPS, "properties") if k in top), None)
    props: list[str] = []
    if nested is not None:  # people export: $properties; event export: properties
        where = _lit("$." + _q(nested))
        props = [
            r[0]
            for r in con.execute(
                f"""SELECT k FROM (SELECT unnest(json_keys(j -> {where})) AS k FROM objs
                WHERE json_type(j -> {where}) = 'OBJECT')
                GROUP BY k ORDER BY count(*) DESC, k LIMIT ?""",
                [_MAX_COLUMNS],
            ).fetchall()
        ]
    cols: list[tuple[str, str]] = [(k, "$." + _q(k)) for k in top if k != nested]
    if nested is not None:
        cols += [(k, f"$.{_q(nested)}.{_q(k)}") for k in props if k not in top]
    select = ", ".join(f"json_extract_string(j, {_lit(p)}) AS {_q(k)}" for k, p in cols)
    _x(
        con,
        f"CREATE OR REPLACE TEMP TABLE leak AS SELECT line{', ' + select if select else ''} "
        "FROM objs",
    )
    return tuple(k for k, _ in cols)


def read_csv_file(con: Any, path: Path, shape: Shape | None = None) -> tuple[str, ...]:
    _read_lines(con, path, blank_only=True)  # physical lines: blank ones, undecodable ones
    _x(con, "CREATE OR REPLACE TEMP TABLE _blank AS SELECT line FROM lines")
    _x(con, "CREATE OR REPLACE TEMP TABLE _lines_bad AS SELECT * FROM bad")
    _clear_rejects(con)
    src = (
        f"read_csv({_lit(str(path))}, all_varchar=true, header=true, ignore_errors=true, "
        "null_padding=false"
    )
    try:
        drop_tables(con, "leak")
        names = tuple(r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src})").fetchall())
        # The shape is applied as the records are parsed: ten million records are not
        # kept with every column only to be reduced to a few in the next statement.
        select = shape(names) if shape else "*"
        _x(
            con,
            f"""CREATE OR REPLACE TEMP TABLE leak_rn AS
            SELECT *, row_number() OVER () AS rn FROM (
              SELECT {select} FROM {src}, store_rejects=true))""",
        )
    except Exception as exc:
        raise LeakedFileError(
            f"{path.name}: not readable as CSV ({str(exc).splitlines()[0]}). "
            "Fix: check the delimiter and header row, or pass --format"
        ) from None
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE bad AS
        SELECT line::BIGINT AS line,
          -- one reason per line: DuckDB may report a ragged row once per extra column
          min(CASE WHEN error_type = 'INVALID ENCODING' THEN 'not UTF-8'
               WHEN error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS')
                 THEN 'ragged: ' || error_message
               ELSE lower(error_type) END) AS reason FROM reject_errors GROUP BY line""",
    )
    # DuckDB skips blank lines, except in a one-column file, where a blank line is a
    # NULL record: renumber with it, then drop it.
    single = len(names) == 1
    blank = "" if single else "UNION SELECT line FROM _blank"
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE _ex AS
        SELECT 1::BIGINT AS line UNION SELECT line FROM bad {blank}
        UNION SELECT line FROM _lines_bad""",
    )
    if con.execute("SELECT count(*) FROM _lines_bad WHERE line = 1").fetchall()[0][0]:
        raise LeakedFileError(
            f"{path.name}: the header row is not UTF-8. Fix: save the file as UTF-8"
        )
    # Lines that could not be decoded stay invalid even when the CSV reader did not
    # reject them itself (they produce no record either way).
    _x(con, "INSERT INTO bad SELECT * FROM _lines_bad WHERE line NOT IN (SELECT line FROM bad)")
    if single:  # renumbered, then the blank records dropped
        _physical(con, "leak_rn", "_ex")
        _x(con, "DELETE FROM leak_rn WHERE line IN (SELECT line FROM _blank)")
        _x(con, "CREATE OR REPLACE TEMP VIEW leak AS SELECT * FROM leak_rn")
    else:
        _physical(con, "leak_rn", "_ex", into="leak")
    return names


def read_parquet_file(con: Any, path: Path) -> tuple[str, ...]:
    try:
        names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {_parquet(path)}").fetchall()]
        casts = ", ".join(f"CAST({_q(n)} AS VARCHAR) AS {_q(n)}" for n in names)
        _x(
            con,
            f"""CREATE OR REPLACE TEMP TABLE leak AS
            SELECT row_number() OVER () AS line, {casts} FROM {_parquet(path)}""",
        )
    except Exception as exc:
        raise LeakedFileError(
            f"{path.name}: not a readable Parquet file ({str(exc).splitlines()[0]}). "
            "Fix: ask the vendor for a fresh copy, or for CSV/NDJSON"
        ) from None
    _x(con, "CREATE OR REPLACE TEMP TABLE bad (line BIGINT, reason VARCHAR)")
    return tuple(names)


def _parquet(path: Path) -> str:
    return f"read_parquet({_lit(str(path))})"


_GLOB_CHARS = frozenset("*?[]{}")


def literal_path(path: Path) -> Path:
    """A path DuckDB reads as this one file: its readers expand ``*``, ``?``, ``[...]``
    and ``{...}``, so ``export_[1].csv`` would read ``export_1.csv`` instead. Such a
    file is read through a link with those characters replaced, in a folder of its own
    that lives as long as the process."""
    if not _GLOB_CHARS.intersection(str(path)):
        return path
    folder = Path(tempfile.mkdtemp(prefix="seawall-leaked-"))
    atexit.register(shutil.rmtree, folder, True)
    link = folder / "".join("_" if c in _GLOB_CHARS else c for c in path.name)
    link.symlink_to(path.resolve())
    return link


def load_leaked(
    con: Any, path: Path, fmt: str | None = None, shape: Shape | None = None
) -> LeakedFile:
    """Load ``path`` into ``leak`` and ``bad``; raise only when nothing can be read.
    ``shape``: given the file's columns, the SQL select list ``leak`` holds (beside
    ``line``) instead of them."""
    if not path.is_file():
        raise LeakedFileError(f"{path}: no such file. Fix: check the path")
    fmt = fmt or detect_format(path)
    readers: dict[str, Callable[[Any, Path], tuple[str, ...]]] = {
        "ndjson": read_ndjson,
        "json": read_json_array,
        "parquet": read_parquet_file,
    }
    if fmt != "csv" and fmt not in readers:
        raise LeakedFileError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    check_content(path, fmt)
    if fmt == "csv":
        columns = read_csv_file(con, literal_path(path), shape)
    else:
        columns = readers[fmt](con, literal_path(path))
        if shape is not None:
            _x(
                con,
                f"CREATE OR REPLACE TEMP TABLE _shaped AS SELECT line, {shape(columns)} FROM leak",
            )
            _x(con, "DROP TABLE leak")
            _x(con, "ALTER TABLE _shaped RENAME TO leak")
    rows = con.execute(
        # The CSV reader's records are counted before they are renumbered (a view).
        f"SELECT (SELECT count(*) FROM {'leak_rn' if fmt == 'csv' else 'leak'}) "
        "+ (SELECT count(*) FROM bad)"
    ).fetchall()[0]
    bad = con.execute("SELECT count(*) FROM bad").fetchall()[0]
    return LeakedFile(path, fmt, columns, int(rows[0]), int(bad[0]))
