"""Ledger rows from PostgreSQL into DuckDB as Arrow batches, with no Python object per row.

A scope reads a million ``ledger_people`` rows. Through the driver's tuples, numpy
columns and DuckDB's ingest that costs 5-7 s of CPU; Apache Arrow's ADBC driver for
PostgreSQL (``adbc-driver-postgresql``: libpq and PostgreSQL's binary COPY) hands DuckDB
the same rows as Arrow batches through the Arrow C stream interface.

Not for SQLite: every SQLite reader that DuckDB or ADBC offers (DuckDB's
``sqlite_scanner``, ``adbc-driver-sqlite``) links its own copy of SQLite, and two copies
of SQLite in one process break SQLite's POSIX locks: the second copy, seeing no other
connection, reinitialises the WAL index that the first has mapped (the scope process
died of SIGBUS in the ledger writer's next INSERT), and another process could write
while this one believes it holds a lock. A SQLite ledger is read through Python's own
``sqlite3``. ``ArrowLedger.open`` returns None then, or when the driver is not installed
or cannot connect; the caller reads through SQLAlchemy (slower, same tables).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from seawall.incident.leaked import _x

log = logging.getLogger(__name__)


def _uri(conn: Connection) -> str | None:
    """The libpq URI the ADBC driver opens; None for anything but PostgreSQL (see the
    module's docstring for why not SQLite)."""
    if conn.dialect.name != "postgresql":
        return None
    return conn.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class ArrowLedger:
    """One ADBC connection to a PostgreSQL ledger, streaming query results into DuckDB."""

    def __init__(self, database: Any, connection: Any) -> None:
        self._database, self._connection = database, connection

    @classmethod
    def open(cls, conn: Connection) -> ArrowLedger | None:
        """An ADBC connection to the PostgreSQL database behind ``conn``; None for SQLite,
        or when none can be had."""
        uri = _uri(conn)
        if uri is None:
            return None
        try:
            import adbc_driver_manager

            driver = importlib.import_module("adbc_driver_postgresql")
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
