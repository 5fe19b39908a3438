# ruff: noqa: S608  (SQL here is built from constants and the driver's placeholder)
"""The ledger reads a scope needs, as DuckDB tables (``incident.frame`` joins them).

``ledger_people`` has one row per (vendor, subject), kept by the ledger writer: the
subject's field set, kind and first/last disclosure. A subject is exposed with all of
its fields when its row lies inside the window (first seen at or after the start, and
every field first seen by the end: ``fields_at <= end``); a subject that straddles a
window edge is read field by field from ``ledger_fields``, exactly as before the
summary existed, so a field sent only outside the window is not counted.

Tables made: ``led`` (subject, kind, fields, first_seen, last_seen), ``links`` (alias,
person, pkind: identity stitching with the person's kind) and ``sorg`` (subject, org
fingerprints). The rows come through an ADBC driver when it is installed
(``ledger_arrow``: in this process for PostgreSQL, in a child process for SQLite),
otherwise through the SQLAlchemy driver's rows and numpy in chunks. Both give the same
tables (tested).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection

from seawall.incident.frame import load_chunks, load_columns
from seawall.incident.ledger_arrow import (
    ArrowLedger,
    ChildRead,
    TableRead,
    load_sqlite_in_child,
    start_sqlite_child,
)
from seawall.storage.database import Database
from seawall.storage.tables import FIELD_SEP

log = logging.getLogger(__name__)

_LED = ("subject", "kind", "fields", "first_seen", "last_seen")
_LED_TYPES = ("BLOB", "VARCHAR", "VARCHAR", "DOUBLE", "DOUBLE")
_LINKS = ("alias", "person", "pkind")
_LINK_TYPES = ("BLOB", "BLOB", "VARCHAR")
_LINKS_SQL = (
    "SELECT il.alias, il.subject, coalesce(ls.kind, 'anonymous') FROM identity_links il "
    "LEFT JOIN ledger_subjects ls ON ls.subject = il.subject"
)
_SORG = ("subject", "org")
_SORG_TYPES = ("BLOB", "BLOB")
_SORG_SQL = "SELECT subject, org FROM subject_orgs"


def _stream(conn: Connection, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """Chunks of rows straight from the driver's cursor: SQLAlchemy's result rows cost
    ten times the driver's tuples, and a scope reads a million. (Both drivers return
    BLOB/bytea columns as bytes.)"""
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql, tuple(params))
        while rows := cur.fetchmany(100_000):
            yield rows
    finally:
        cur.close()


def start_ledger(
    db: Database, vendor: str, start: float | None, end: float | None
) -> ChildRead | None:
    """Start reading a SQLite ledger's rows for ``stage_ledger`` in a child process now,
    so that the read overlaps whatever the caller does next (the directory); None where
    there is nothing to start early (PostgreSQL is read in this process, and a ledger
    the child cannot read is read by ``stage_ledger`` itself)."""
    if db.dialect != "sqlite":
        return None
    sql = _people_sql(vendor, start, end)
    if sql is None:
        return None
    return start_sqlite_child(db.engine.url.database, _tables(sql), (vendor, start, end))


def _tables(people_sql: str) -> list[TableRead]:
    return [
        ("led", _LED, _LED_TYPES, people_sql),
        ("links", _LINKS, _LINK_TYPES, _LINKS_SQL),
        ("sorg", _SORG, _SORG_TYPES, _SORG_SQL),
    ]


def stage_ledger(
    con: Any,
    db: Database,
    vendor: str,
    start: float | None,
    end: float | None,
    *,
    arrow: bool = True,
    early: ChildRead | None = None,
) -> tuple[dict[str, str], str]:
    """Stage every subject whose data ``vendor`` received inside [start, end]; return
    the category of each field they show, and how the rows came: "arrow" (an ADBC
    driver, see ``ledger_arrow``; ``arrow=False`` skips it) or "sqlalchemy".
    ``early``: a read ``start_ledger`` began for the same vendor and window (used, and
    closed, here; any other is closed unused)."""
    p = "%s" if db.dialect == "postgresql" else "?"
    lo = float("-inf") if start is None else start
    hi = float("inf") if end is None else end
    inside = f"first_seen >= {p} AND fields_at <= {p}"
    if early is not None and not (arrow and early.key == (vendor, start, end)):
        early.close()
        early = None
    with db.engine.connect() as conn:
        reader = "sqlalchemy"
        if early is not None:
            done = early.load(con)
        else:
            done = arrow and _read_arrow(con, conn, vendor, start, end)
        if done:
            reader = "arrow"
        else:
            _read_rows(con, conn, vendor, lo, hi)
        edge = [
            bytes(r[0])
            for r in conn.exec_driver_sql(
                f"SELECT subject FROM ledger_people WHERE vendor = {p} AND last_seen >= {p} "
                f"AND first_seen <= {p} AND NOT ({inside})",
                (vendor, lo, hi, lo, hi),
            )
        ]
        if edge:
            _stage_edges(con, conn, vendor, lo, hi, edge)
        return _categories(con, conn, vendor, p), reader


def _people_sql(vendor: str, start: float | None, end: float | None) -> str | None:
    """The summary rows inside the window, with literals inlined (ADBC statements here
    take no parameters); None when a value cannot be inlined safely."""
    if "'" in vendor or "\\" in vendor:
        return None
    where = [f"vendor = '{vendor}'"]
    for bound, conds in (
        (start, ("last_seen >=", "first_seen >=")),
        (end, ("first_seen <=", "fields_at <=")),
    ):
        if bound is not None:
            if not math.isfinite(bound):
                return None
            where += [f"{c} {float(bound)!r}" for c in conds]
    return f"SELECT {', '.join(_LED)} FROM ledger_people WHERE {' AND '.join(where)}"


def _read_arrow(
    con: Any, conn: Connection, vendor: str, start: float | None, end: float | None
) -> bool:
    """``led``, ``links`` and ``sorg`` through an ADBC driver (``ledger_arrow``); False
    when it cannot be used (the SQLAlchemy read then replaces whatever was made)."""
    sql = _people_sql(vendor, start, end)
    if sql is None:
        return False
    tables = _tables(sql)
    if conn.dialect.name == "sqlite":
        return load_sqlite_in_child(con, conn, tables)
    reader = ArrowLedger.open(conn)
    if reader is None:
        return False
    import adbc_driver_manager
    import duckdb

    try:
        for table, names, types, query in tables:
            reader.load(con, table, names, types, query)
    except (adbc_driver_manager.Error, duckdb.Error) as exc:
        log.warning("reading the ledger through SQLAlchemy: the ADBC read failed (%s)", exc)
        return False
    finally:
        reader.close()
    return True


def _read_rows(con: Any, conn: Connection, vendor: str, lo: float, hi: float) -> None:
    """``led``, ``links`` and ``sorg`` from the driver's rows, in chunks."""
    p = "%s" if conn.dialect.name == "postgresql" else "?"
    rows = _stream(
        conn,
        "SELECT subject, kind, fields, first_seen, last_seen FROM ledger_people "
        f"WHERE vendor = {p} AND last_seen >= {p} AND first_seen <= {p} "
        f"AND first_seen >= {p} AND fields_at <= {p}",
        (vendor, lo, hi, lo, hi),
    )
    load_chunks(con, "led", _LED, _LED_TYPES, rows)
    load_chunks(con, "links", _LINKS, _LINK_TYPES, _stream(conn, _LINKS_SQL, ()))
    load_chunks(con, "sorg", _SORG, _SORG_TYPES, _stream(conn, _SORG_SQL, ()))


def _stage_edges(
    con: Any, conn: Connection, vendor: str, lo: float, hi: float, subjects: list[bytes]
) -> None:
    """Subjects on a window edge: only the fields seen inside the window, from
    ``ledger_fields`` (by key: vendor, subject)."""
    p = "%s" if conn.dialect.name == "postgresql" else "?"
    per: dict[bytes, list[Any]] = {}
    sql = (
        "SELECT lf.subject, lf.field, lf.first_seen, lf.last_seen, lp.kind FROM ledger_fields lf "
        "JOIN ledger_people lp ON lp.vendor = lf.vendor AND lp.subject = lf.subject "
        f"WHERE lf.vendor = {p} AND lf.subject = {p} AND lf.last_seen >= {p} "
        f"AND lf.first_seen <= {p}"
    )
    for subject in subjects:
        for s, field, first, last, kind in conn.exec_driver_sql(sql, (vendor, subject, lo, hi)):
            row = per.get(bytes(s))
            if row is None:
                per[bytes(s)] = [bytes(s), kind, [field], first, last]
            else:
                row[2].append(field)
                row[3], row[4] = min(row[3], first), max(row[4], last)
    for row in per.values():
        row[2] = FIELD_SEP.join(sorted(row[2]))
    if per:
        load_columns(con, "led_edge", _LED, _LED_TYPES, per.values())
        # The summary rows may have been read a moment earlier (``start_ledger``): a
        # subject that has since moved onto an edge is counted once, field by field.
        con.execute("DELETE FROM led WHERE subject IN (SELECT subject FROM led_edge)").fetchall()
        con.execute("INSERT INTO led SELECT * FROM led_edge").fetchall()


def _categories(con: Any, conn: Connection, vendor: str, p: str) -> dict[str, str]:
    """Each field's category, read from the field rows of one subject per field set
    (a few look-ups by key, instead of grouping every field row of the vendor)."""
    out: dict[str, str] = {}
    sets = con.execute("SELECT fields, min(subject) FROM led GROUP BY fields").fetchall()
    sql = f"SELECT field, category FROM ledger_fields WHERE vendor = {p} AND subject = {p}"
    for fields, subject in sets:
        if all(f in out for f in (fields or "").split(FIELD_SEP)):
            continue
        for field, category in conn.exec_driver_sql(sql, (vendor, subject)):
            out.setdefault(str(field), str(category))
    return out
