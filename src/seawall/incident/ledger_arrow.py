# ruff: noqa: S608  (DuckDB SQL here is built from constants and _lit-quoted paths)
"""Ledger rows into DuckDB as Arrow batches or Parquet, with no Python object per row.

A scope reads a million ``ledger_people`` rows. Through the driver's tuples, numpy
columns and DuckDB's ingest that costs 5-7 s of CPU; Apache Arrow's ADBC drivers hand
DuckDB the same rows as Arrow batches (about 3 s with the hand-over below).

PostgreSQL: ``adbc-driver-postgresql`` (libpq, binary COPY) in this process.

SQLite: ``adbc-driver-sqlite`` in a child process (``ledger_child``), which writes
Parquet files that DuckDB reads here. Never in this process: the driver links its own
copy of SQLite (as DuckDB's ``sqlite_scanner`` does), and two copies of SQLite in one
process break SQLite's POSIX locks: the second copy, seeing no other connection,
reinitialises the WAL index that the first has mapped (the scope process died of SIGBUS
in the ledger writer's next INSERT), and another process could write while this one
believes it holds a lock.

When a driver is not installed, cannot connect or fails, the functions here return
None/False and the caller reads the rows through SQLAlchemy (slower, same tables).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from seawall.incident.leaked import _lit, _x

log = logging.getLogger(__name__)


# (table, column names, DuckDB types, SQL on the ledger database)
TableRead = tuple[str, Sequence[str], Sequence[str], str]


def _uri(conn: Connection) -> str | None:
    """The libpq URI the ADBC driver opens here; None for anything but PostgreSQL (see
    the module's docstring for SQLite)."""
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

        _create(con, table, names, types)
        stmt = adbc_driver_manager.AdbcStatement(self._connection)
        try:
            stmt.set_sql_query(sql)
            stream, _ = stmt.execute_query()
            con.register("sw_arrow", stream)
            try:
                _x(con, f"INSERT INTO {table} SELECT * FROM sw_arrow")
            finally:
                con.unregister("sw_arrow")
        finally:
            stmt.close()

    def close(self) -> None:
        self._connection.close()
        self._database.close()


def _create(con: Any, table: str, names: Sequence[str], types: Sequence[str]) -> None:
    cols = ", ".join(f"{n} {t}" for n, t in zip(names, types, strict=True))
    _x(con, f"CREATE OR REPLACE TEMP TABLE {table} ({cols})")


class ChildRead:
    """A SQLite ledger read running in a child process (``ledger_child``). It is started
    early, before the directory is read and fingerprinted, so that its seconds of work
    run on the other core meanwhile; ``load`` waits for it and creates the tables.

    ``key`` says what was asked for (vendor and window): a caller that asks for
    something else reads afresh instead. As a context manager it ends the child and
    removes its files when it was never loaded (a scope that failed on the way)."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        tmp: tempfile.TemporaryDirectory[str],
        tables: Sequence[TableRead],
        key: object,
    ) -> None:
        self._proc, self._tmp, self._tables, self.key = proc, tmp, tables, key

    def __enter__(self) -> ChildRead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def folder(self) -> Path:
        """Where the child writes its files (removed by ``close``)."""
        return Path(self._tmp.name)

    def wait(self) -> int:
        """Wait for the child to finish reading; its exit status."""
        return self._proc.wait()

    def close(self) -> None:
        """End the child if it still runs and remove its files (idempotent)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._tmp.cleanup()

    def load(self, con: Any) -> bool:
        """Wait for the child and create each table from its Parquet file; False (and
        nothing to rely on) when the child or its files failed."""
        import duckdb

        try:
            if self.wait():
                err = (self.folder / "stderr").read_text(errors="replace").strip()
                last = (err.splitlines() or ["no message"])[-1]
                log.warning(
                    "reading the ledger through SQLAlchemy: the child read failed (%s)", last
                )
                return False
            for table, names, types, _ in self._tables:
                _create(con, table, names, types)
                path = _lit(str(self.folder / f"{table}.parquet"))
                # An empty result has no column types to cast from: nothing to insert.
                if con.execute(f"SELECT count(*) FROM read_parquet({path})").fetchall()[0][0]:
                    _x(con, f"INSERT INTO {table} SELECT * FROM read_parquet({path})")
        except duckdb.Error as exc:
            log.warning("reading the ledger through SQLAlchemy: the child's files (%s)", exc)
            return False
        finally:
            self.close()
        return True


def start_sqlite_child(
    database: str | None, tables: Sequence[TableRead], key: object = None
) -> ChildRead | None:
    """Start ``ledger_child`` on the SQLite file ``database`` (the SQLAlchemy URL's
    database part) for ``tables``; None when it cannot be used (an in-memory or URI
    database, no ``adbc-driver-sqlite``, or the process cannot start)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    if importlib.util.find_spec("adbc_driver_sqlite") is None:
        return None
    child = Path(__file__).with_name("ledger_child.py")
    queries = json.dumps([[table, sql] for table, _, _, sql in tables]).encode()
    tmp = tempfile.TemporaryDirectory(prefix="seawall-ledger-")
    try:
        # The child's messages go to a file: a pipe nobody reads until the end could
        # fill and stall it.
        with Path(tmp.name, "stderr").open("wb") as err:
            proc = subprocess.Popen(  # noqa: S603  (our own script, run by this interpreter)
                [sys.executable, "-I", str(child), str(Path(database).resolve()), tmp.name],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
    except OSError as exc:
        tmp.cleanup()
        log.warning("reading the ledger through SQLAlchemy: the child did not start (%s)", exc)
        return None
    # A child that ended early closes the pipe: ``load`` then reports its exit status.
    if proc.stdin is not None:
        with contextlib.suppress(OSError), proc.stdin:
            proc.stdin.write(queries)
    return ChildRead(proc, tmp, tables, key)


def load_sqlite_in_child(con: Any, conn: Connection, tables: Sequence[TableRead]) -> bool:
    """Create each DuckDB table from its SQL run on the SQLite database behind ``conn``
    by ``ledger_child`` in a child process; False (and nothing to rely on) when that
    cannot be done."""
    read = start_sqlite_child(conn.engine.url.database, tables)
    return read is not None and read.load(con)
