# ruff: noqa: S608  (DuckDB SQL here quotes names with _q and literals with _lit)
"""The company directory: who a user id is (email, name, org, role, locale, country).

Read from a CSV file or an SQL query when an incident needs it, and never copied into
the ledger or the incident tables. Rows come out as ``Person`` values; a missing
column stops the read with an error that names the source, the column and the fix.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from seawall.core.config import Config, CsvDirectory, SqlDirectory
from seawall.incident.errors import DirectoryError

COLUMNS = ("user_id", "email", "name", "org_id", "role", "locale", "country")
REQUIRED = ("user_id", "email")


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    email: str | None
    name: str | None
    org_id: str | None
    role: str | None
    locale: str | None
    country: str | None  # ISO 3166-1 alpha-2 (or a US state as "US-CA"), as the directory has it


def _check_columns(found: list[str], where: str) -> dict[str, int]:
    index = {name.strip().lower(): i for i, name in enumerate(found)}
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        raise DirectoryError(
            f"{where}: the directory has no column {', '.join(missing)} "
            f"(found: {', '.join(found) or 'none'}). Fix: name the columns "
            f"{', '.join(COLUMNS)} (user_id and email are required; alias them in the query "
            "or rename them in the CSV header)"
        )
    return index


def _person(row: list[str] | tuple[object, ...], index: dict[str, int]) -> Person | None:
    def col(name: str) -> str | None:
        i = index.get(name)
        if i is None or i >= len(row) or row[i] is None:
            return None
        value = str(row[i]).strip()
        return value or None

    user_id = col("user_id")
    if user_id is None:
        return None
    return Person(
        user_id=user_id,
        email=col("email"),
        name=col("name"),
        org_id=col("org_id"),
        role=col("role"),
        locale=col("locale"),
        country=(col("country") or "").upper() or None,
    )


def _csv_people(rows: Iterator[list[str]], index: dict[str, int]) -> Iterator[Person]:
    """``_person`` for CSV rows (always strings), without a call per column: a million
    people are read in a second instead of five."""
    at = [index.get(name) for name in COLUMNS]
    for row in rows:
        n = len(row)
        values = [None if i is None or i >= n else (row[i].strip() or None) for i in at]
        if values[0] is None:
            continue
        if values[6] is not None:
            values[6] = values[6].upper()
        yield Person(*values)  # type: ignore[arg-type]


def read_csv_directory(path: Path) -> Iterator[Person]:
    where = f"directory {path}"
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DirectoryError(
            f"{where}: cannot open ({exc.strerror}). Fix: check 'directory.path' in the config"
        ) from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, [])
            yield from _csv_people(reader, _check_columns(header, where))
        except UnicodeDecodeError as exc:
            # The decoder reads ahead of the CSV reader, so its line count is not the place.
            raise DirectoryError(
                f"{where}, line {_undecodable_line(path)}: not UTF-8 ({exc.reason}). "
                "Fix: save it as UTF-8 CSV"
            ) from None
        except csv.Error as exc:
            raise DirectoryError(
                f"{where}, line {reader.line_num}: cannot read ({exc}). Fix: save it as UTF-8 CSV"
            ) from None


def _undecodable_line(path: Path) -> int:
    """The first physical line of ``path`` that is not UTF-8 (0 when none is)."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def read_sql_directory(url: str, query: str) -> Iterator[Person]:
    try:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    except SQLAlchemyError as exc:
        raise DirectoryError(
            f"directory URL is not usable ({type(exc).__name__}). Fix: 'directory.url' must be "
            "an SQLAlchemy URL such as postgresql://user@host/db"
        ) from None
    try:
        with engine.connect() as conn:
            result = conn.execute(text(query))
            index = _check_columns(list(result.keys()), "directory query")
            for row in result:
                person = _person(tuple(row), index)
                if person is not None:
                    yield person
    except SQLAlchemyError as exc:
        raise DirectoryError(
            f"directory query failed: {type(exc).__name__}: {getattr(exc, 'orig', exc)}. "
            "Fix: check 'directory.url' and 'directory.query'"
        ) from None
    finally:
        engine.dispose()


def read_directory(config: Config) -> Iterator[Person]:
    """Every person in the configured directory; an error when none is configured."""
    d = config.directory
    if isinstance(d, CsvDirectory):
        return read_csv_directory(config.path(d.path))
    if isinstance(d, SqlDirectory):
        return read_sql_directory(d.url, d.query)
    raise DirectoryError(
        "no directory is configured, so exposed user ids cannot be named. Fix: add "
        "`directory: {kind: csv, path: users.csv}` (or kind: sql) to seawall.yaml"
    )


_STAGED = ", ".join(f"{c} VARCHAR" for c in COLUMNS)


def stage_directory(con: Any, config: Config, needed: Iterable[str] = COLUMNS) -> int:
    """The configured directory as DuckDB table ``people`` (one row per user id, the
    last one when ids repeat, as ``read_directory`` into a dict); the row count.
    ``needed``: the columns the caller reads; a CSV directory's others are left NULL
    (not trimmed and kept for nothing)."""
    d = config.directory
    if isinstance(d, CsvDirectory):
        return stage_csv_directory(con, config.path(d.path), needed)
    return stage_people(con, read_directory(config))


def stage_csv_directory(con: Any, path: Path, needed: Iterable[str] = COLUMNS) -> int:
    """A CSV directory as table ``people``, read by DuckDB itself (a million people in
    a fraction of a second); when DuckDB cannot read it (ragged rows, bad encoding),
    the Python reader does, and says what is wrong."""
    import duckdb

    try:
        return _stage_csv(con, path, frozenset(needed) | set(REQUIRED))
    except duckdb.Error:
        return stage_people(con, read_csv_directory(path))


def stage_people(con: Any, people: Iterable[Person]) -> int:
    """``people`` (Person values) as DuckDB table ``people``."""
    from seawall.incident.frame import load_columns

    rows = ((p.user_id, p.email, p.name, p.org_id, p.role, p.locale, p.country) for p in people)
    load_columns(con, "people_raw", COLUMNS, ("VARCHAR",) * len(COLUMNS), rows)
    return _dedupe(con, "people_raw")


def _stage_csv(con: Any, path: Path, needed: frozenset[str]) -> int:
    from seawall.incident.keyed import trim_sql
    from seawall.incident.leaked import _lit, _q, _x

    src = f"read_csv({_lit(str(path))}, all_varchar=true, header=true, auto_detect=false, "
    src += "delim=',', quote='\"', escape='\"', strict_mode=true"
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    index = _check_columns(header, f"directory {path}")
    names = {name: header[i] for name, i in index.items()}
    cols = ", ".join(f"{_q(h)}: 'VARCHAR'" for h in header)
    parts = []
    for c in COLUMNS:
        value = "NULL::VARCHAR"
        if c in names and c in needed:
            value = f"nullif({trim_sql(_q(names[c]))}, '')"
        parts.append(f"upper({value}) AS country" if c == "country" else f"{value} AS {c}")
    _x(
        con,
        f"CREATE OR REPLACE TEMP TABLE people_raw AS SELECT {', '.join(parts)} "
        f"FROM {src}, columns={{{cols}}})",
    )
    return _dedupe(con, "people_raw")


def _dedupe(con: Any, raw: str) -> int:
    """``people`` from ``raw``: rows with a user id, the last one of a repeated id (the
    window that picks it runs only when some id repeats)."""
    from seawall.incident.leaked import _x, drop_tables

    cols = ", ".join(COLUMNS)
    repeats, no_id = con.execute(
        f"SELECT count(user_id) - count(DISTINCT user_id), count(*) - count(user_id) FROM {raw}"
    ).fetchall()[0]
    drop_tables(con, "people")
    if not repeats:
        # Nearly always: the raw table (columns COLUMNS, all VARCHAR) becomes ``people``
        # as it is, instead of being copied row by row.
        if no_id:
            _x(con, f"DELETE FROM {raw} WHERE user_id IS NULL")
        _x(con, f"ALTER TABLE {raw} RENAME TO people")
        return int(con.execute("SELECT count(*) FROM people").fetchall()[0][0])
    _x(con, f"CREATE TEMP TABLE people ({_STAGED})")
    _x(
        con,
        f"""INSERT INTO people SELECT {cols} FROM (
          SELECT row_number() OVER () AS n, * FROM {raw}) WHERE user_id IS NOT NULL
        QUALIFY n = max(n) OVER (PARTITION BY user_id)
        ORDER BY n""",  # the directory's order: the keyed-value cache lines rows up by it
    )
    _x(con, f"DROP TABLE {raw}")
    return int(con.execute("SELECT count(*) FROM people").fetchall()[0][0])
