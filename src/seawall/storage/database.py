"""Opening the store: engine settings per backend, migrations, and the writer."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from seawall.core.errors import ConfigError, StorageError
from seawall.storage.tables import union_fields
from seawall.storage.writer import GroupWriter

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 7_202_511  # advisory lock id: one migrator at a time


class Database:
    """The engine, its single group-committing writer, and schema migrations."""

    def __init__(self, url: str, *, max_queue: int = 20_000, synchronous: str = "FULL") -> None:
        parsed = _parse(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.engine: Engine = _engine(
            parsed.render_as_string(hide_password=False), self.is_sqlite, synchronous
        )
        self.writer = GroupWriter(
            self.engine, max_queue=max_queue, turn_lock=self._lock_file("write")
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest version; safe when several processes start at once."""
        with self._migration_lock() as conn:
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")  # each feature adds its own branch from 0001

    def _lock_file(self, purpose: str) -> Path | None:
        """The lock file beside a SQLite database file, for ``purpose``."""
        db_path = self.engine.url.database if self.is_sqlite else None
        if not db_path or db_path == ":memory:" or self.engine.url.query.get("uri"):
            return None
        return Path(f"{db_path}.{purpose}.lock")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        if self.is_sqlite:
            lock_path = self._lock_file("migrate")
            if lock_path:
                lock_path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.ExitStack() as stack:
                if lock_path:
                    fh = stack.enter_context(lock_path.open("a"))
                    fcntl.flock(fh, fcntl.LOCK_EX)
                conn = stack.enter_context(self.engine.connect())
                yield conn
                conn.commit()
        else:
            with self.engine.connect() as conn:
                conn.execute(text("select pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
                try:
                    yield conn
                    conn.commit()
                finally:
                    conn.execute(text("select pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                    conn.commit()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("select 1"))
        except OperationalError:
            return False
        return True

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"'{url}' is not a database URL",
            key="database",
            fix="use sqlite:///seawall.db or postgresql://user@host/db",
        ) from None


def _engine(url: str, is_sqlite: bool, synchronous: str) -> Engine:
    if not is_sqlite:
        return create_engine(
            url, pool_size=8, max_overflow=8, pool_pre_ping=True, hide_parameters=True
        )
    # hide_parameters: an error's text must not carry the rows it failed on (they hold
    # field names, fingerprints and payloads) into logs and answers
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
        dbapi_conn.create_function("sw_union_fields", 2, union_fields, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: no deadlock between two processes
        # that both read and then try to write.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


RunMany = Callable[[str, Sequence[Sequence[Any]]], object]


def run_many(conn: Connection) -> RunMany:
    """``executemany`` of driver SQL inside ``conn``'s transaction.

    Why: on SQLite the hot writes (outbox rows, ledger upserts) go straight to the
    sqlite3 connection, whose own cache keeps each statement prepared: SQLAlchemy's
    per-statement execution context cost as much as SQLite's work on small batches.
    The transaction is the same (SQLAlchemy issued its BEGIN on that connection and
    commits it). PostgreSQL keeps SQLAlchemy's path (its errors, its reconnects).
    """
    if conn.dialect.name == "sqlite":
        driver: Callable[[str, Sequence[Sequence[Any]]], object]
        driver = conn.connection.driver_connection.executemany  # type: ignore[union-attr]
        return driver
    return conn.exec_driver_sql


def open_database(url: str, *, migrate: bool = True, max_queue: int = 20_000) -> Database:
    """Open (and by default migrate) the store; errors say what to do."""
    db = Database(url, max_queue=max_queue)
    if migrate:
        try:
            db.migrate()
        except OperationalError as exc:
            raise StorageError(
                f"cannot open the database {make_url(url).render_as_string(hide_password=True)}: "
                f"{exc.orig}. Check that it is running and reachable, and the URL in 'database'."
            ) from None
    return db


Recorded = Literal["absent", "empty", "foreign", "seawall"]


def recorded_state(url: str) -> Recorded:
    """Whether ``url`` names Seawall's database, without creating or writing anything.

    "absent": a SQLite file that does not exist (opening it would create it); "empty":
    a database without any table (a new PostgreSQL database, an empty file);
    "foreign": tables, but not Seawall's (no ``alembic_version``): another
    application's database; "seawall" otherwise, including when the database cannot be
    reached or read (``open_database`` explains that)."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        name = parsed.database
        if name in (None, "", ":memory:") or parsed.query.get("uri"):
            return "seawall"  # nothing on disk to look at, or a URI SQLite resolves
        if not Path(name).is_file():
            return "absent"
        import sqlite3

        # Read-only and outside the engine, whose connect hook switches the file to WAL
        # (writing it) before anything is known.
        try:
            ro = sqlite3.connect(f"{Path(name).resolve().as_uri()}?mode=ro", uri=True)
            try:
                tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master")}
            finally:
                ro.close()
        except sqlite3.Error:
            return "seawall"
        return _state(tables)
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return _state(set(inspect(conn).get_table_names()))
    except SQLAlchemyError:
        return "seawall"
    finally:
        db.close()


def _state(tables: set[str]) -> Recorded:
    if "alembic_version" in tables:
        return "seawall"
    return "foreign" if tables else "empty"
