"""Ledger rows into DuckDB as Arrow batches, with no Python object per row.

A scope reads a million ``ledger_people`` rows. Through the driver's tuples, numpy
columns and DuckDB's ingest that cost 5-7 s of CPU; Apache Arrow's ADBC drivers
(``adbc-driver-sqlite``, ``adbc-driver-postgresql``: C libraries, SQLite's own reader
and PostgreSQL's binary COPY) hand DuckDB the same rows as Arrow batches through the
Arrow C stream interface, in about a second. ``ArrowLedger.open`` returns None when
the driver is not installed or cannot open the database; the caller then reads the
rows through SQLAlchemy (slower, same tables).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from seawall.incident.leaked import _x

log = logging.getLogger(__name__)


def _uri(conn: Connection) -> str | None:
    """What the ADBC driver opens: the SQLite file (read-only) or a libpq URI."""
    url = conn.engine.url
    if conn.dialect.name == "sqlite":
        name = url.database
        if not name or name == ":memory:" or name.startswith("file:"):
            return None
        return f"file:{Path(name).resolve().as_posix()}?mode=ro"
    if conn.dialect.name == "postgresql":
        return url.set(drivername="postgresql").render_as_string(hide_password=False)
    return None


class ArrowLedger:
    """One ADBC connection to the ledger database, streaming query results into DuckDB."""

    def __init__(self, database: Any, connection: Any) -> None:
        self._database, self._connection = database, connection

    @classmethod
    def open(cls, conn: Connection) -> ArrowLedger | None:
        """An ADBC connection to the database behind ``conn``; None when none can be had."""
        uri = _uri(conn)
        if uri is None:
            return None
        module = "adbc_driver_sqlite" if conn.dialect.name == "sqlite" else "adbc_driver_postgresql"
        try:
            import adbc_driver_manager

            driver = importlib.import_module(module)
        except ImportError:
            return None
        try:
            database = driver.connect(uri)
        except adbc_driver_manager.Error as exc:
            log.warning("reading the ledger through SQLAlchemy: ADBC cannot open it (%s)", exc)
            return None
        try:
            return cls(database, adbc_driver_manager.AdbcConnection(database))
        except adbc_driver_manager.Error as exc:
            database.close()
            log.warning("reading the ledger through SQLAlchemy: ADBC cannot connect (%s)", exc)
            return None

    def load(
        self, con: Any, table: str, names: Sequence[str], types: Sequence[str], sql: str
    ) -> None:
        """Create DuckDB ``table`` (columns ``names`` of ``types``) from the rows of
        ``sql`` run on the ledger database (no parameters: callers inline literals)."""
        import adbc_driver_manager

        cols = ", ".join(f"{n} {t}" for n, t in zip(names, types, strict=True))
        _x(con, f"CREATE OR REPLACE TEMP TABLE {table} ({cols})")
        stmt = adbc_driver_manager.AdbcStatement(self._connection)
        try:
            stmt.set_sql_query(sql)
            stream, _ = stmt.execute_query()
            con.register("sw_arrow", stream)
            try:
                _x(con, f"INSERT INTO {table} SELECT * FROM sw_arrow")  # noqa: S608
            finally:
                con.unregister("sw_arrow")
        finally:
            stmt.close()

    def close(self) -> None:
        self._connection.close()
        self._database.close()
